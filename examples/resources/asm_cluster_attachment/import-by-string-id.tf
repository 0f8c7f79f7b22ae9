# An attachment is imported by "<mesh_id>:<cluster_id>".
import {
  to = asm_cluster_attachment.serving
  id = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9:c1234567890abcdef1234567890abcdef"
}
