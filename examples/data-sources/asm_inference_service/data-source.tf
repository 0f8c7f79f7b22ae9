# A model another team deploys: send requests to it, and fail the plan while it does not serve.
data "asm_inference_service" "fraud" {
  name      = "fraud-detector"
  namespace = "risk-models"

  lifecycle {
    postcondition {
      condition     = self.ready && self.active_model_state == "Loaded"
      error_message = "fraud-detector is not serving: ${coalesce(self.last_failure_message, self.active_model_state)}"
    }
  }
}

output "fraud_detector_grpc_url" {
  value = data.asm_inference_service.fraud.url
}
