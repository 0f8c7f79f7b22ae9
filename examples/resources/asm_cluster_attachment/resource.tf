# Add an ACK cluster to the mesh; the apply waits until the cluster runs in it.
resource "asm_cluster_attachment" "serving" {
  mesh_id    = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
  cluster_id = "c1234567890abcdef1234567890abcdef"

  timeouts {
    create = "20m"
    delete = "15m"
  }
}
