# A first apply on a real Alibaba Cloud account: an ASM instance with ModelMesh, an ACK cluster, and a
# scikit-learn model in an OSS bucket, read by ModelMesh through its S3-compatible storage and OSS's
# S3-compatible endpoint. Guide: docs/guides/real-account-quickstart.md (permissions, namespace, PVC
# alternative, composition with the alicloud provider).
#
# Credentials come from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET,
# a RAM role, RRSA, an ECS instance role) or an aliyun CLI profile. No kubeconfig: the provider fetches
# a short-lived one for the cluster through ACK.

provider "asm" {
  region = var.region

  kubernetes {
    ack_cluster_id   = var.cluster_id
    namespace        = var.namespace
    private_endpoint = var.private_endpoint
  }
}

locals {
  oss_endpoint = coalesce(var.oss_endpoint, "https://s3.oss-${var.region}-internal.aliyuncs.com")
}

# ModelMesh custom runtimes need ASM 1.18.0.134 or later; an older mesh fails the plan.
data "asm_mesh" "this" {
  mesh_id         = var.mesh_id
  minimum_version = "1.18.0.134"
}

# The ACK cluster, added to the mesh (skipped when it is already there).
resource "asm_cluster_attachment" "ack" {
  count = var.attach_cluster ? 1 : 0

  mesh_id    = data.asm_mesh.this.mesh_id
  cluster_id = var.cluster_id
}

# The bucket, as the key "oss" of the storage-config Secret. ModelMesh's S3 storage takes OSS's
# S3-compatible endpoint; the secret is stored in the Secret and in Terraform state.
resource "asm_model_storage" "oss" {
  name      = "oss"
  namespace = var.namespace
  type      = "s3"

  s3 {
    access_key_id     = var.oss_access_key_id
    secret_access_key = var.oss_access_key_secret
    endpoint_url      = local.oss_endpoint
    bucket            = var.oss_bucket
    region            = var.region
  }

  # The Kubernetes objects need the cluster in the mesh (and ModelMesh on it) first.
  depends_on = [asm_cluster_attachment.ack]
}

# An MLServer runtime for scikit-learn models; auto_select lets models of that format pick it.
resource "asm_serving_runtime" "sklearn" {
  name      = "mlserver-sklearn"
  namespace = var.namespace

  supported_model_formats = [
    { name = "sklearn", version = "0", auto_select = true },
  ]
  mlserver = {
    image          = var.runtime_image
    implementation = "mlserver_sklearn.SKLearnModel"
  }

  depends_on = [asm_cluster_attachment.ack]
}

# The model; the apply returns when ModelMesh reports it Loaded, or fails with ModelMesh's reason.
resource "asm_inference_service" "mnist" {
  name      = "mnist-svm"
  namespace = var.namespace
  runtime   = asm_serving_runtime.sklearn.name

  # Checks the mesh version again before deploying.
  mesh_id = data.asm_mesh.this.mesh_id

  model_format {
    name = "sklearn"
  }

  storage {
    key  = asm_model_storage.oss.name
    path = var.model_path
  }

  timeouts {
    create = "15m" # a first model waits for the runtime's image pull and Pods
  }
}

# The model, reachable from outside the cluster through the mesh's ingress gateway (ASM's ModelMesh
# guide: the gateway "ingressgateway" with port 8008 open, and the namespace created in the mesh too).
# The apply waits until the gateway's load balancer has an address.
resource "asm_modelmesh_ingress" "public" {
  mesh_id      = data.asm_mesh.this.mesh_id
  namespace    = var.namespace
  gateway_name = var.gateway_name

  depends_on = [asm_cluster_attachment.ack]
}
