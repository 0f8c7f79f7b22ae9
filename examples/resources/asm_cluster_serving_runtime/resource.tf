# ModelMesh's mlserver-1.x runtime for every namespace: the preset reproduces its container
# environment, endpoints and adapter settings.
resource "asm_cluster_serving_runtime" "mlserver" {
  name = "mlserver-1.x"
  labels = {
    name = "modelmesh-serving-mlserver-1.x-SR"
  }

  supported_model_formats = [
    { name = "sklearn", version = "0", auto_select = true },
    { name = "xgboost", version = "1", auto_select = true },
    { name = "lightgbm", version = "3", auto_select = true },
  ]

  mlserver = {
    image = "seldonio/mlserver:1.3.2"
    resources = {
      requests = { cpu = "500m", memory = "1Gi" }
      limits   = { cpu = "5", memory = "1Gi" }
    }
  }
}
