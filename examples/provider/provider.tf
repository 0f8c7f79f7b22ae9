terraform {
  required_providers {
    asm = {
      source = "asm-modelmesh/asm"
      # Any 0.x release. Pin tighter (for example "~> 0.1.0") once you have tested one.
      version = ">= 0.0.1, < 1.0.0"
    }
  }
}

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

# A CI runner federated by OIDC (or a Pod with RRSA, where the three ALIBABA_CLOUD_* variables
# RRSA injects are enough and the block can be left out).
provider "asm" {
  alias  = "ci"
  region = "cn-hangzhou"

  assume_role_with_oidc {
    oidc_provider_arn = "acs:ram::1234567890123456:oidc-provider/ci"
    role_arn          = "acs:ram::1234567890123456:role/modelmesh-deployer"
    oidc_token_file   = "/var/run/secrets/ci/oidc-token"
  }
}
