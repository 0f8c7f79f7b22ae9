# Credentials and region come from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID,
# ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_REGION) or an aliyun CLI profile.
provider "asm" {
  region = "cn-hangzhou"

  # The ACK data-plane cluster where ModelMesh runs, by its ID: the provider fetches a short-lived
  # kubeconfig for it through the ACK API with the credentials above, and renews it as needed.
  kubernetes {
    ack_cluster_id = "c1234567890abcdef1234567890abcdef"
    namespace      = "modelmesh-serving"
  }
}

# Any other cluster: a kubeconfig (or host and credentials) instead of ack_cluster_id.
provider "asm" {
  alias  = "kubeconfig"
  region = "cn-hangzhou"

  kubernetes {
    config_path    = "~/.kube/config"
    config_context = "ack-modelmesh"
  }
}
