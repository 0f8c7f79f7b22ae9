# A runtime for every namespace: a custom MLServer image through the preset, with more memory
# than the preset's default (upstream mlserver-1.x's requests 500m / 1Gi, limits 5 / 1Gi).
# ModelMesh's own built-in runtimes, written out for this provider, are in the "Built-in runtimes"
# guide.
resource "asm_cluster_serving_runtime" "my_model_server" {
  name = "my-model-server-0.x"

  supported_model_formats = [
    { name = "my-model", version = "1", auto_select = true },
  ]

  mlserver = {
    image          = "registry.cn-hangzhou.aliyuncs.com/modelmesh-demo/my-model-server:0.1"
    implementation = "custom_model.CustomMLModel"
    resources = {
      requests = { cpu = "500m", memory = "4Gi" }
      limits   = { cpu = "5", memory = "4Gi" }
    }
  }
}
