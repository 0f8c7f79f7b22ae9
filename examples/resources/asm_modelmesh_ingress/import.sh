# The ingress is imported by "<mesh_id>:<namespace>/<name>".
terraform import asm_modelmesh_ingress.public c0a1b2c3d4e5f60718293a4b5c6d7e8f9:modelmesh-serving/modelmesh-serving
