# A model served by ModelMesh with a custom MLServer runtime, from a MinIO bucket. The apply waits
# until ModelMesh reports the model Loaded, and fails at once, with ModelMesh's reason, if it cannot.
resource "asm_inference_service" "my_model_sample" {
  name      = "my-model-sample"
  namespace = "modelmesh-serving"

  # Referencing the runtime and the storage key makes Terraform create them first. Without
  # runtime, ModelMesh only considers runtimes listing the format with auto_select = true.
  runtime = asm_serving_runtime.my_model_server.name

  model_format {
    name    = "my-model"
    version = "1"
  }

  storage {
    key  = asm_model_storage.local_minio.name
    path = "my-model/model.json"
  }

  # Optional: refuse to plan against an ASM instance older than 1.18.0.134.
  mesh_id = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"

  timeouts {
    create = "15m"
  }
}

resource "asm_serving_runtime" "my_model_server" {
  name                    = "my-model-server-0.x"
  namespace               = "modelmesh-serving"
  supported_model_formats = [{ name = "my-model", version = "1", auto_select = true }]
  mlserver = {
    image          = "registry.example.com/my-model-server:0.x"
    implementation = "custom_model.CustomMLModel"
  }
}

resource "asm_model_storage" "local_minio" {
  name      = "localMinIO"
  namespace = "modelmesh-serving"
  type      = "s3"
  s3 {
    access_key_id     = var.minio_access_key_id
    secret_access_key = var.minio_secret_access_key
    endpoint_url      = "http://minio.modelmesh-serving:9000"
    bucket            = "modelmesh-example-models"
    region            = "us-south"
  }
}

variable "minio_access_key_id" {
  type = string
}

variable "minio_secret_access_key" {
  type      = string
  sensitive = true
}

output "my_model_sample_url" {
  value = asm_inference_service.my_model_sample.url
}

# A model in a built-in format, from a URI, in the provider's default namespace. With storage_uri
# the storage block may still name the key, parameters and schema path (not the path: the URI has
# it). Without runtime, ModelMesh picks a runtime that lists sklearn with auto_select = true and,
# with protocol_version, serves that protocol.
resource "asm_inference_service" "mnist" {
  name = "mnist-svm"
  model_format {
    name = "sklearn"
  }
  storage_uri = "s3://modelmesh-example-models/sklearn/mnist-svm.joblib"
  storage {
    key = asm_model_storage.local_minio.name
  }
  protocol_version = "grpc-v2"
}
