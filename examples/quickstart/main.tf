# The ASM ModelMesh custom-runtime flow, end to end, with Alibaba Cloud credentials and two IDs: the
# mesh and the ACK cluster. Credentials and region come from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID,
# ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_REGION) or an aliyun CLI profile; `make demo` sets them
# for the sandbox. No kubeconfig: the provider fetches a short-lived one for the cluster through ACK.
terraform {
  required_providers {
    asm = {
      source = "asm-modelmesh/asm"
    }
  }
}

provider "asm" {
  kubernetes {
    ack_cluster_id = var.cluster_id
  }
}

variable "mesh_id" {
  description = "ASM instance that runs ModelMesh."
  type        = string
  default     = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
}

variable "cluster_id" {
  description = "ACK cluster to add to the mesh; ModelMesh serves models on it, and the provider reaches it by this ID."
  type        = string
  default     = "c1234567890abcdef1234567890abcdef"
}

variable "runtime_image" {
  description = "MLServer image holding the custom MLModel class (built outside Terraform)."
  type        = string
  default     = "registry.cn-hangzhou.aliyuncs.com/modelmesh-demo/my-model-server:0.1"
}

# Step 1: ModelMesh custom runtimes need ASM 1.18.0.134 or later. Read at plan time: an older mesh
# fails the plan before anything is applied.
data "asm_mesh" "this" {
  mesh_id         = var.mesh_id
  minimum_version = "1.18.0.134"
}

# Step 2: the ACK cluster where the models run, added to the mesh.
resource "asm_cluster_attachment" "ack" {
  mesh_id    = data.asm_mesh.this.mesh_id
  cluster_id = var.cluster_id
}

# The storage the models load from: one key of the storage-config Secret.
resource "asm_model_storage" "minio" {
  name = "localMinIO"
  type = "s3"
  s3 {
    access_key_id     = "AKIAIOSFODNN7EXAMPLE"
    secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    endpoint_url      = "http://minio.modelmesh-serving:9000"
    bucket            = "modelmesh-example-models"
    region            = "us-south"
  }

  depends_on = [asm_cluster_attachment.ack]
}

# Step 3: the custom runtime, an MLServer image serving the CustomMLModel class. auto_select makes it
# the runtime of my-model models that name none.
resource "asm_serving_runtime" "my_model_server" {
  name = "my-model-server-0.x"
  supported_model_formats = [
    { name = "my-model", version = "1", auto_select = true },
  ]
  mlserver = {
    image          = var.runtime_image
    implementation = "custom_model.CustomMLModel"
  }

  depends_on = [asm_cluster_attachment.ack]
}

# Step 4: the model, deployed in ModelMesh mode; apply waits until it is READY.
resource "asm_inference_service" "my_model_sample" {
  name    = "my-model-sample"
  runtime = asm_serving_runtime.my_model_server.name
  model_format {
    name = "my-model"
  }
  storage {
    key  = asm_model_storage.minio.name
    path = "my-model/model.json"
  }
}

# Step 5: reach the models from outside the cluster, through the mesh's ingress gateway: the Istio
# Gateway and VirtualService of ASM's ModelMesh guide, on the mesh's control plane. Apply waits until
# the gateway's load balancer has an address.
resource "asm_modelmesh_ingress" "public" {
  mesh_id = data.asm_mesh.this.mesh_id

  depends_on = [asm_cluster_attachment.ack]
}

# A second model, through the reusable module, as teams compose it.
module "sklearn_models" {
  source = "../modules/modelmesh-model"

  runtime_name           = "sklearn-server"
  runtime_image          = "seldonio/mlserver:1.3.2"
  runtime_implementation = "mlserver_sklearn.SKLearnModel"
  model_formats          = [{ name = "sklearn", version = "0" }]
  models = {
    "mnist-svm" = { format = "sklearn", storage_key = asm_model_storage.minio.name, path = "sklearn/mnist-svm.joblib" }
  }

  # Its runtime, too, needs the cluster in the mesh first; the storage key only orders the models.
  depends_on = [asm_cluster_attachment.ack]
}

output "mesh_version" {
  value = data.asm_mesh.this.version
}

output "attachment_state" {
  value = asm_cluster_attachment.ack.state
}

output "my_model_sample_ready" {
  value = asm_inference_service.my_model_sample.ready
}

output "my_model_sample_url" {
  value = asm_inference_service.my_model_sample.url
}

# Where a client sends the model's KServe v2 inference requests from outside the cluster.
output "my_model_sample_infer_url" {
  value = format(asm_modelmesh_ingress.public.model_url_template, asm_inference_service.my_model_sample.name)
}

output "module_models" {
  value = module.sklearn_models.models
}

output "module_runtime_name" {
  value = module.sklearn_models.runtime_name
}
