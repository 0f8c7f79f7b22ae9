# ModelMesh's built-in triton-2.x runtime (kserve/modelmesh-serving v0.12.0,
# config/runtimes/triton-2.x.yaml), for every namespace, with the image its install uses.
# TensorFlow is listed twice, once per version: formats are unique by name and version.
resource "asm_cluster_serving_runtime" "triton" {
  name        = "triton-2.x"
  labels      = { name = "modelmesh-serving-triton-2.x-SR" }
  annotations = { maxLoadingConcurrency = "2" }

  supported_model_formats = [
    { name = "keras", version = "2", auto_select = true },
    { name = "onnx", version = "1", auto_select = true },
    { name = "pytorch", version = "1", auto_select = true },
    { name = "tensorflow", version = "1", auto_select = true },
    { name = "tensorflow", version = "2", auto_select = true },
    { name = "tensorrt", version = "7", auto_select = true },
    { name = "sklearn", version = "0", auto_select = false },
    { name = "xgboost", version = "1", auto_select = false },
    { name = "lightgbm", version = "3", auto_select = false },
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
      # One shell line, as upstream's folded YAML string makes it (its trailing space included).
      join(" ", [
        "mkdir -p /models/_triton_models;",
        "chmod 777 /models/_triton_models;",
        "exec tritonserver",
        "\"--model-repository=/models/_triton_models\"",
        "\"--model-control-mode=explicit\"",
        "\"--strict-model-config=false\"",
        "\"--strict-readiness=false\"",
        "\"--allow-http=true\"",
        "\"--allow-sagemaker=false\"",
        "",
      ]),
    ]
    resources = {
      requests = { cpu = "500m", memory = "1Gi" }
      limits   = { cpu = "5", memory = "1Gi" }
    }
    # Triton listens on 127.0.0.1 only, so the probe runs curl inside the container.
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
}
