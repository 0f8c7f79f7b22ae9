# A reusable ModelMesh deployment: one MLServer serving runtime and any number of models, each served
# by that runtime or placed by ModelMesh on any runtime that auto-selects its format.
terraform {
  required_version = ">= 1.5"

  required_providers {
    asm = {
      source = "asm-modelmesh/asm"
      # Any 0.x release from the first; a caller's root module pins tighter.
      version = ">= 0.1.0, < 1.0.0"
    }
  }
}

variable "runtime_name" {
  description = "Name of the ServingRuntime."
  type        = string
}

variable "namespace" {
  description = "Namespace of the runtime and models; null uses the provider's default (modelmesh-serving)."
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
  description = "Model formats the runtime serves. auto_select lets ModelMesh place models of that format that name no runtime here."
  type = list(object({
    name        = string
    version     = optional(string)
    auto_select = optional(bool, false)
  }))
}

variable "protocol_versions" {
  description = "Inference protocols the runtime serves (grpc-v2, grpc-v1, v2, v1); null keeps the MLServer preset's grpc-v2."
  type        = list(string)
  default     = null
}

variable "mesh_id" {
  description = "ASM instance serving the models: when set, each model's plan checks the mesh runs ASM 1.18.0.134 or later."
  type        = string
  default     = null
}

variable "models" {
  description = <<-EOT
    Models to deploy, by name (the InferenceService's name, which clients ask for). Each takes its
    model from exactly one of storage_uri (s3://, gs://, pvc://, http(s)://) and path (in the
    storage-config key storage_key). use_runtime = false leaves the runtime to ModelMesh, which
    then needs a runtime auto-selecting the format (and protocol_version, when set).
  EOT
  type = map(object({
    format             = string
    format_version     = optional(string)
    storage_key        = optional(string)
    path               = optional(string)
    storage_uri        = optional(string)
    storage_parameters = optional(map(string))
    schema_path        = optional(string)
    protocol_version   = optional(string)
    use_runtime        = optional(bool, true)
    wait_for_ready     = optional(bool, true)
    labels             = optional(map(string))
    annotations        = optional(map(string))
  }))

  validation {
    condition     = alltrue([for m in values(var.models) : (m.path == null) != (m.storage_uri == null)])
    error_message = "Each model needs exactly one of path (with storage_key) and storage_uri."
  }
}

locals {
  format_names = toset([for f in var.model_formats : f.name])
}

resource "asm_serving_runtime" "this" {
  name                    = var.runtime_name
  namespace               = var.namespace
  supported_model_formats = var.model_formats
  protocol_versions       = var.protocol_versions
  mlserver = {
    image          = var.runtime_image
    implementation = var.runtime_implementation
  }
}

resource "asm_inference_service" "model" {
  for_each = var.models

  name             = each.key
  namespace        = asm_serving_runtime.this.namespace
  runtime          = each.value.use_runtime ? asm_serving_runtime.this.name : null
  protocol_version = each.value.protocol_version
  storage_uri      = each.value.storage_uri
  mesh_id          = var.mesh_id
  wait_for_ready   = each.value.wait_for_ready
  labels           = each.value.labels
  annotations      = each.value.annotations

  model_format {
    name    = each.value.format
    version = each.value.format_version
  }

  dynamic "storage" {
    # With storage_uri, the block only carries what it adds (key, parameters, schema path).
    for_each = anytrue([for v in [each.value.storage_key, each.value.path, each.value.storage_parameters, each.value.schema_path] : v != null]) ? [1] : []
    content {
      key         = each.value.storage_key
      path        = each.value.path
      parameters  = each.value.storage_parameters
      schema_path = each.value.schema_path
    }
  }

  # A model whose format the runtime does not list would never load there: say so at plan.
  lifecycle {
    precondition {
      condition     = !each.value.use_runtime || contains(local.format_names, each.value.format)
      error_message = "Model ${each.key}: format ${each.value.format} is not among the runtime's model_formats (${join(", ", sort(local.format_names))})."
    }
  }

  # ModelMesh does not retry a model it found no runtime for when the runtime appears later, so
  # auto-selected models (no runtime reference) are created after the runtime too.
  depends_on = [asm_serving_runtime.this]
}

output "runtime_name" {
  description = "Name of the ServingRuntime."
  value       = asm_serving_runtime.this.name
}

output "runtime_id" {
  description = "<namespace>/<name> of the ServingRuntime."
  value       = asm_serving_runtime.this.id
}

output "model_ids" {
  description = "<namespace>/<name> of each InferenceService, by model name."
  value       = { for name, m in asm_inference_service.model : name => m.id }
}

output "models" {
  description = "Each model's READY, ModelMesh state and endpoints (url: gRPC, rest_url: REST proxy)."
  value = {
    for name, m in asm_inference_service.model : name => {
      id       = m.id
      ready    = m.ready
      state    = m.active_model_state
      url      = m.url
      grpc_url = m.grpc_url
      rest_url = m.rest_url
    }
  }
}
