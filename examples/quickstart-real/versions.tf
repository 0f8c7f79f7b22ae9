terraform {
  required_version = ">= 1.5"

  required_providers {
    asm = {
      source = "asm-modelmesh/asm"
      # Any 0.x release. Pin tighter (for example "~> 0.1.0") once you have tested one.
      version = ">= 0.0.1, < 1.0.0"
    }
  }
}
