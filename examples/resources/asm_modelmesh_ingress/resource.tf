# Expose ModelMesh's REST proxy through the mesh's ingress gateway, as ASM's ModelMesh guide does by
# hand; the apply waits until the gateway's load balancer has an address.
resource "asm_modelmesh_ingress" "public" {
  mesh_id = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"

  # The guide's defaults, spelled out: the gateway "ingressgateway", port 8008, HTTP, any host.
  gateway_name = "ingressgateway"
  port         = 8008
  protocol     = "HTTP"
  hosts        = ["*"]

  timeouts {
    create = "15m"
  }
}

output "sklearn_mnist_infer_url" {
  # http://<gateway address>:8008/v2/models/sklearn-mnist/infer
  value = format(asm_modelmesh_ingress.public.model_url_template, "sklearn-mnist")
}

# gRPC on its own port of the gateway, with TLS terminated there by a credential in istio-system.
resource "asm_modelmesh_ingress" "grpc" {
  mesh_id             = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
  name                = "modelmesh-serving-grpc"
  port                = 8443
  protocol            = "GRPC"
  hosts               = ["models.example.com"]
  tls_credential_name = "models-example-com"
}
