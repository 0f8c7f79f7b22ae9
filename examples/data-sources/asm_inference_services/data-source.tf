# Every model of one team: fail the plan while any of them does not serve, naming them.
data "asm_inference_services" "vision" {
  namespace      = "modelmesh-serving"
  label_selector = "team=vision"

  lifecycle {
    postcondition {
      condition     = alltrue([for m in self.items : m.ready && m.active_model_state == "Loaded"])
      error_message = "not serving: ${join(", ", [for m in self.items : m.name if !(m.ready && m.active_model_state == "Loaded")])}"
    }
  }
}

output "vision_model_urls" {
  value = { for m in data.asm_inference_services.vision.items : m.name => m.url }
}
