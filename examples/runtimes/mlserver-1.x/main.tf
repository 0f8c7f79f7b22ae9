# ModelMesh's built-in mlserver-1.x runtime (kserve/modelmesh-serving v0.12.0,
# config/runtimes/mlserver-1.x.yaml), for every namespace, with the image its install uses. The
# mlserver preset stands for the rest: the container's environment and resources, the endpoints,
# multi_model, protocol_versions and the built-in adapter, all as upstream (the plan shows them).
resource "asm_cluster_serving_runtime" "mlserver" {
  name   = "mlserver-1.x"
  labels = { name = "modelmesh-serving-mlserver-1.x-SR" }

  supported_model_formats = [
    { name = "sklearn", version = "0", auto_select = true },
    { name = "xgboost", version = "1", auto_select = true },
    { name = "lightgbm", version = "3", auto_select = true },
  ]

  mlserver = {
    image = "seldonio/mlserver:1.3.2"
  }
}
