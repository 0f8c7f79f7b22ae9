# A module author's test that needs no Alibaba Cloud account and no cluster: the asm provider is
# mocked, so `terraform test` runs the module's logic (names, for_each, wiring, validation) offline,
# in CI. The mocked READY and URL stand for what ModelMesh reports; the ids are the mock's own.

mock_provider "asm" {
  mock_resource "asm_inference_service" {
    defaults = {
      ready              = true
      active_model_state = "Loaded"
      url                = "grpc://modelmesh-serving.modelmesh-serving:8033"
      grpc_url           = "grpc://modelmesh-serving.modelmesh-serving:8033"
      rest_url           = "http://modelmesh-serving.modelmesh-serving:8008"
    }
  }
}

variables {
  runtime_name           = "sklearn-mlserver"
  runtime_image          = "seldonio/mlserver:1.6.1"
  runtime_implementation = "mlserver_sklearn.SKLearnModel"
  model_formats          = [{ name = "sklearn", version = "1", auto_select = true }]
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
  assert {
    condition     = asm_inference_service.model["iris"].storage.key == "localMinIO" && asm_inference_service.model["iris"].storage.path == "sklearn/mnist-svm.joblib"
    error_message = "a model's storage_key and path must reach its storage block"
  }
  assert {
    condition     = asm_serving_runtime.this.supported_model_formats[0].auto_select
    error_message = "model_formats' auto_select must reach the runtime"
  }
}

run "every_model_field_reaches_the_inference_service" {
  command = plan

  variables {
    mesh_id           = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    protocol_versions = ["grpc-v2", "v2"]
    models = {
      digits = {
        format             = "sklearn"
        format_version     = "1"
        storage_uri        = "s3://models/sklearn/digits.joblib"
        storage_key        = "oss"
        storage_parameters = { region = "cn-hangzhou" }
        protocol_version   = "v2"
        use_runtime        = false
        wait_for_ready     = false
        labels             = { team = "vision" }
        annotations        = { "serving.kserve.io/schemaPath" = "schema/digits.json" }
      }
    }
  }

  assert {
    condition     = asm_inference_service.model["digits"].runtime == null
    error_message = "use_runtime = false must leave the runtime to ModelMesh (auto_select)"
  }
  assert {
    condition     = asm_inference_service.model["digits"].model_format.version == "1"
    error_message = "format_version must reach model_format.version"
  }
  assert {
    condition     = asm_inference_service.model["digits"].storage_uri == "s3://models/sklearn/digits.joblib" && asm_inference_service.model["digits"].storage.path == null
    error_message = "storage_uri must be set without a storage path"
  }
  assert {
    condition     = asm_inference_service.model["digits"].storage.key == "oss" && asm_inference_service.model["digits"].storage.parameters["region"] == "cn-hangzhou"
    error_message = "storage_key and storage_parameters must ride along with storage_uri"
  }
  assert {
    condition     = asm_inference_service.model["digits"].protocol_version == "v2" && asm_serving_runtime.this.protocol_versions == tolist(["grpc-v2", "v2"])
    error_message = "protocol_version and protocol_versions must reach the model and the runtime"
  }
  assert {
    condition     = asm_inference_service.model["digits"].mesh_id == var.mesh_id && !asm_inference_service.model["digits"].wait_for_ready
    error_message = "mesh_id and wait_for_ready must reach each model"
  }
  assert {
    condition     = asm_inference_service.model["digits"].labels["team"] == "vision" && asm_inference_service.model["digits"].annotations["serving.kserve.io/schemaPath"] == "schema/digits.json"
    error_message = "labels and annotations must reach each model"
  }
}

run "a_uri_only_model_has_no_storage_block" {
  command = plan

  variables {
    models = {
      pvc = { format = "sklearn", storage_uri = "pvc://models-pvc/sklearn/mnist-svm.joblib" }
    }
  }

  assert {
    condition     = asm_inference_service.model["pvc"].storage == null
    error_message = "a model with only storage_uri must not send an empty storage block"
  }
}

run "outputs_report_ids_urls_and_the_runtime" {
  variables {
    models = {
      iris   = { format = "sklearn", storage_key = "localMinIO", path = "sklearn/iris.joblib" }
      digits = { format = "sklearn", storage_key = "localMinIO", path = "sklearn/digits.joblib" }
    }
  }

  assert {
    condition     = output.runtime_name == "sklearn-mlserver" && output.runtime_id == asm_serving_runtime.this.id
    error_message = "runtime_name and runtime_id must name the module's runtime"
  }
  assert {
    condition     = output.model_ids == { for k, m in asm_inference_service.model : k => m.id } && length(output.model_ids) == 2
    error_message = "model_ids must carry every model's id"
  }
  assert {
    condition     = output.models["iris"].ready && output.models["iris"].state == "Loaded"
    error_message = "the models output must carry each model's READY and state"
  }
  assert {
    condition     = output.models["digits"].url == "grpc://modelmesh-serving.modelmesh-serving:8033" && output.models["digits"].rest_url == "http://modelmesh-serving.modelmesh-serving:8008"
    error_message = "the models output must carry each model's gRPC and REST URLs"
  }
}

run "a_model_needs_exactly_one_source" {
  command = plan

  variables {
    models = {
      both = { format = "sklearn", path = "sklearn/a.joblib", storage_uri = "s3://models/a.joblib" }
    }
  }

  expect_failures = [var.models]
}

run "a_model_without_a_source_is_refused" {
  command = plan

  variables {
    models = {
      none = { format = "sklearn", storage_key = "localMinIO" }
    }
  }

  expect_failures = [var.models]
}

run "a_format_the_runtime_does_not_serve_is_refused_at_plan" {
  command = plan

  variables {
    models = {
      onnx = { format = "onnx", storage_key = "localMinIO", path = "onnx/model.onnx" }
    }
  }

  expect_failures = [asm_inference_service.model["onnx"]]
}
