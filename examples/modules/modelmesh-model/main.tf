# A reusable ModelMesh deployment: one serving runtime and any number of models served by it.
terraform {
  required_providers {
    asm = {
      source = "asm-modelmesh/asm"
    }
  }
}

variable "runtime_name" {
  description = "Name of the ServingRuntime."
  type        = string
}

variable "namespace" {
  description = "Namespace of the runtime and models; null uses the provider's default."
  type        = string
  default     = null
}

variable "runtime_image" {
  description = "MLServer image of the runtime."
  type        = string
}

variable "runtime_implementation" {
  description = "Python class serving the models, as module.Class."
  type        = string
}

variable "model_formats" {
  description = "Model formats the runtime serves."
  type        = list(object({ name = string, version = optional(string) }))
}

variable "models" {
  description = "Models to deploy, by name: their format, storage key and path."
  type = map(object({
    format      = string
    storage_key = string
    path        = string
  }))
}

resource "asm_serving_runtime" "this" {
  name                    = var.runtime_name
  namespace               = var.namespace
  supported_model_formats = var.model_formats
  mlserver = {
    image          = var.runtime_image
    implementation = var.runtime_implementation
  }
}

resource "asm_inference_service" "model" {
  for_each = var.models

  name      = each.key
  namespace = asm_serving_runtime.this.namespace
  runtime   = asm_serving_runtime.this.name
  model_format {
    name = each.value.format
  }
  storage {
    key  = each.value.storage_key
    path = each.value.path
  }
}

output "models" {
  description = "READY and URL of each model."
  value = {
    for name, m in asm_inference_service.model : name => { ready = m.ready, url = m.url }
  }
}
