output "mesh_version" {
  description = "Version of the ASM instance."
  value       = data.asm_mesh.this.version
}

output "attachment_state" {
  description = "State of the cluster in the mesh (null when attach_cluster is false)."
  value       = one(asm_cluster_attachment.ack[*].state)
}

output "runtime_name" {
  description = "Name of the ServingRuntime."
  value       = asm_serving_runtime.sklearn.name
}

output "model_id" {
  description = "<namespace>/<name> of the InferenceService."
  value       = asm_inference_service.mnist.id
}

output "model_state" {
  description = "ModelMesh's state of the model: Loaded after a successful apply."
  value       = asm_inference_service.mnist.active_model_state
}

output "model_grpc_url" {
  description = "ModelMesh's gRPC endpoint for the model, inside the cluster."
  value       = asm_inference_service.mnist.url
}

output "model_rest_url" {
  description = "ModelMesh's REST endpoint for the model, when its REST proxy is enabled."
  value       = asm_inference_service.mnist.rest_url
}

output "model_infer_url" {
  description = "The model's KServe v2 REST inference URL, from outside the cluster (POST a v2 inference request)."
  value       = format(asm_modelmesh_ingress.public.model_url_template, asm_inference_service.mnist.name)
}
