# An attachment is imported by "<mesh_id>:<cluster_id>".
terraform import asm_cluster_attachment.serving c0a1b2c3d4e5f60718293a4b5c6d7e8f9:c1234567890abcdef1234567890abcdef
