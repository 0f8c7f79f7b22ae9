# Shows the plan-time version check: this mesh runs ASM 1.17, older than the 1.18.0.134 that ModelMesh
# custom runtimes need, so `terraform plan` fails before anything is applied (make demo-old-mesh).
terraform {
  required_providers {
    asm = {
      source = "asm-modelmesh/asm"
    }
  }
}

provider "asm" {}

data "asm_mesh" "legacy" {
  mesh_id         = "c9f8e7d6c5b4a39281706f5e4d3c2b1a0"
  minimum_version = "1.18.0.134"
}

resource "asm_serving_runtime" "my_model_server" {
  name                    = "my-model-server-0.x"
  supported_model_formats = [{ name = "my-model", version = "1" }]
  mlserver = {
    image          = "registry.cn-hangzhou.aliyuncs.com/modelmesh-demo/my-model-server:0.1"
    implementation = "custom_model.CustomMLModel"
  }

  # Deploy only onto a mesh that passed the check.
  depends_on = [data.asm_mesh.legacy]
}
