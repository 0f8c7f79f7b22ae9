# ModelMesh's built-in Triton runtime, installed with KServe on ASM: fail the plan when it does not
# serve the format of the model about to be deployed, instead of leaving the model without a runtime.
data "asm_cluster_serving_runtime" "triton" {
  name = "triton-2.x"

  lifecycle {
    postcondition {
      condition     = !coalesce(self.disabled, false) && contains([for f in self.supported_model_formats : f.name], "onnx")
      error_message = "${self.name} does not serve onnx models: it serves ${join(", ", [for f in self.supported_model_formats : f.name])}"
    }
  }
}

output "triton_image" {
  value = data.asm_cluster_serving_runtime.triton.containers[0].image
}
