# Credentials and region come from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID,
# ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_REGION) or an aliyun CLI profile.
provider "asm" {
  region = "cn-hangzhou"

  # The ACK data-plane cluster where ModelMesh runs.
  kubernetes {
    config_path    = "~/.kube/config"
    config_context = "ack-modelmesh"
    namespace      = "modelmesh-serving"
  }
}
