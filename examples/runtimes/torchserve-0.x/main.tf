# ModelMesh's built-in torchserve-0.x runtime (kserve/modelmesh-serving v0.12.0,
# config/runtimes/torchserve-0.x.yaml), for every namespace, with the image its install uses.
# Upstream sets no protocol_versions.
resource "asm_cluster_serving_runtime" "torchserve" {
  name   = "torchserve-0.x"
  labels = { name = "modelmesh-serving-torchserve-0.x-SR" }

  supported_model_formats = [
    { name = "pytorch-mar", version = "0", auto_select = true },
  ]
  multi_model        = true
  grpc_endpoint      = "port:8085"
  grpc_data_endpoint = "port:7070"

  containers = [{
    name  = "torchserve"
    image = "pytorch/torchserve:0.7.1-cpu"
    # The adapter writes TorchServe's configuration file; the server starts once it exists.
    args = [
      "while [ ! -e \"$TS_CONFIG_FILE\" ]; do echo \"waiting for config file...\"; sleep 1; done;",
      "exec",
      "torchserve",
      "--start",
      "--foreground",
    ]
    # More TS_-prefixed TorchServe settings may be added here.
    env = [{ name = "TS_CONFIG_FILE", value = "/models/_torchserve_models/mmconfig.properties" }]
    resources = {
      requests = { cpu = "500m", memory = "1Gi" }
      limits   = { cpu = "5", memory = "1Gi" }
    }
  }]

  built_in_adapter = {
    server_type                  = "torchserve"
    runtime_management_port      = 7071
    mem_buffer_bytes             = 134217728
    model_loading_timeout_millis = 90000
  }
}
