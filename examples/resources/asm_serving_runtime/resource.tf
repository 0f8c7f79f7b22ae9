# A custom MLServer runtime through the preset: the container, environment, resources, endpoints and
# adapter settings ModelMesh needs are filled in as in upstream mlserver-1.x, and the plan shows them
# under `containers`. auto_select lets InferenceServices of this format leave `runtime` out.
resource "asm_serving_runtime" "my_model_server" {
  name      = "my-model-server-0.x"
  namespace = "modelmesh-serving"

  supported_model_formats = [
    { name = "my-model", version = "1", auto_select = true },
  ]

  mlserver = {
    image          = "registry.cn-hangzhou.aliyuncs.com/modelmesh-demo/my-model-server:0.1"
    implementation = "custom_model.CustomMLModel"
  }
}

# A runtime given in full: Triton on GPU nodes for ONNX and TensorFlow models, in one namespace. A
# variant of ModelMesh's built-in triton-2.x (the "Built-in runtimes" guide has that one as upstream
# ships it): fewer formats, a GPU per pod, a toleration and a security context. A format may be
# listed once per version.
resource "asm_serving_runtime" "triton_gpu" {
  name = "triton-gpu"

  supported_model_formats = [
    { name = "onnx", version = "1", auto_select = true },
    { name = "tensorflow", version = "1", auto_select = true },
    { name = "tensorflow", version = "2", auto_select = true },
  ]
  protocol_versions  = ["grpc-v2"]
  multi_model        = true
  grpc_endpoint      = "port:8085"
  grpc_data_endpoint = "port:8001"

  containers = [{
    name    = "triton"
    image   = "nvcr.io/nvidia/tritonserver:23.04-py3"
    command = ["/bin/sh"]
    args = [
      "-c",
      "mkdir -p /models/_triton_models; chmod 777 /models/_triton_models; exec tritonserver --model-repository=/models/_triton_models --model-control-mode=explicit --strict-model-config=false --strict-readiness=false --allow-http=true --allow-sagemaker=false",
    ]
    resources = {
      requests = { cpu = "500m", memory = "1Gi" }
      limits   = { cpu = "5", memory = "1Gi", "nvidia.com/gpu" = "1" }
    }
    liveness_probe = {
      exec                  = { command = ["curl", "--fail", "--silent", "--show-error", "--max-time", "9", "http://localhost:8000/v2/health/live"] }
      initial_delay_seconds = 5
      period_seconds        = 30
      timeout_seconds       = 10
    }
  }]

  built_in_adapter = {
    server_type                  = "triton"
    runtime_management_port      = 8001
    mem_buffer_bytes             = 134217728
    model_loading_timeout_millis = 90000
  }

  tolerations = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]

  # Fields the typed schema lacks go here; they must not repeat a typed one.
  spec_overrides_json = jsonencode({
    containers = [{ name = "triton", securityContext = { runAsNonRoot = true } }]
  })

  timeouts {
    delete = "10m"
  }
}
