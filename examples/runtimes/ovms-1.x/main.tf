# ModelMesh's built-in ovms-1.x runtime, OpenVINO Model Server (kserve/modelmesh-serving v0.12.0,
# config/runtimes/ovms-1.x.yaml), for every namespace, with the image its install uses.
resource "asm_cluster_serving_runtime" "ovms" {
  name   = "ovms-1.x"
  labels = { name = "modelmesh-serving-ovms-1.x-SR" }

  supported_model_formats = [
    { name = "openvino_ir", version = "opset1", auto_select = true },
    { name = "onnx", version = "1" },
  ]
  protocol_versions  = ["grpc-v1"]
  multi_model        = true
  grpc_endpoint      = "port:8085"
  grpc_data_endpoint = "port:8001"

  containers = [{
    name  = "ovms"
    image = "openvino/model_server:2022.2"
    args = [
      "--port=8001",
      "--rest_port=8888",
      # Must match the default of the OVMS adapter, which calls /v1/config/reload to load models.
      "--config_path=/models/model_config_list.json",
      "--file_system_poll_wait_seconds=0",
      # Only containers of the pod can reach the server.
      "--grpc_bind_address=127.0.0.1",
      "--rest_bind_address=127.0.0.1",
    ]
    resources = {
      requests = { cpu = "500m", memory = "1Gi" }
      limits   = { cpu = "5", memory = "1Gi" }
    }
  }]

  built_in_adapter = {
    server_type                  = "ovms"
    runtime_management_port      = 8888
    mem_buffer_bytes             = 134217728
    model_loading_timeout_millis = 90000
  }
}
