# The runtimes ModelMesh's install created (its kustomize labels mark them), and which of them
# pick up models of each format that name no runtime.
data "asm_cluster_serving_runtimes" "built_in" {
  label_selector = "app.kubernetes.io/managed-by=modelmesh-controller"
}

output "auto_selected_formats" {
  value = {
    for rt in data.asm_cluster_serving_runtimes.built_in.items : rt.name => [
      for f in rt.supported_model_formats : f.name if coalesce(f.auto_select, false)
    ] if !coalesce(rt.disabled, false)
  }
}
