# A runtime the platform team registered in the namespace: deploy a model to it only once it serves
# the model's format, and show its image.
data "asm_serving_runtime" "platform" {
  name      = "my-model-server-0.x"
  namespace = "modelmesh-serving"

  lifecycle {
    postcondition {
      condition     = contains([for f in self.supported_model_formats : f.name], "my-model")
      error_message = "${self.name} does not serve my-model"
    }
  }
}

output "runtime_image" {
  value = data.asm_serving_runtime.platform.containers[0].image
}
