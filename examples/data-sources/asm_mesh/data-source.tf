# Read the mesh, and stop the plan if it is too old for ModelMesh custom serving runtimes.
data "asm_mesh" "this" {
  mesh_id         = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
  minimum_version = "1.18.0.134"
}

output "mesh_version" {
  value = data.asm_mesh.this.version_number # e.g. "1.22.6.71"
}

output "mesh_clusters" {
  value = [for c in data.asm_mesh.this.clusters : "${c.name} (${c.state})"]
}
