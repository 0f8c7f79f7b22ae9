# A module author's test that needs no Alibaba Cloud account and no cluster: the asm provider is
# mocked, so `terraform test` runs the module's logic (names, for_each, wiring) offline, in CI.

mock_provider "asm" {
  mock_resource "asm_inference_service" {
    defaults = {
      ready = true
      url   = "grpc://modelmesh-serving.modelmesh-serving:8033"
    }
  }
}

variables {
  runtime_name           = "sklearn-mlserver"
  runtime_image          = "seldonio/mlserver:1.6.1"
  runtime_implementation = "mlserver_sklearn.SKLearnModel"
  model_formats          = [{ name = "sklearn", version = "1" }]
  models = {
    iris = { format = "sklearn", storage_key = "localMinIO", path = "sklearn/mnist-svm.joblib" }
  }
}

run "models_are_served_by_the_runtime" {
  command = plan

  assert {
    condition     = asm_inference_service.model["iris"].runtime == "sklearn-mlserver"
    error_message = "each model must be served by the module's runtime"
  }
}

run "outputs_report_each_model" {
  assert {
    condition     = output.models["iris"].ready
    error_message = "the models output must carry each model's READY"
  }
}
