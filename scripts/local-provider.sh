# shellcheck shell=bash
# Sourced by the scripts that run terraform against a locally built provider.
# install_local_provider WORK VERSION builds the provider into a filesystem mirror under WORK and
# points terraform or tofu at it (TF_CLI_CONFIG_FILE), so `init` installs it like a registry release.
# VERSION must be a plain release number: terraform never selects a pre-release without an exact constraint.
install_local_provider() {
  local work=$1 version=$2 plugin="terraform-provider-asm_v$2" platform tf_dir tofu_dir
  platform="$(go env GOOS)_$(go env GOARCH)"
  # The same build under both registries: "asm-modelmesh/asm" means registry.terraform.io to terraform
  # and registry.opentofu.org to tofu.
  tf_dir="$work/plugins/registry.terraform.io/asm-modelmesh/asm/$version/$platform"
  tofu_dir="$work/plugins/registry.opentofu.org/asm-modelmesh/asm/$version/$platform"
  mkdir -p "$tf_dir" "$tofu_dir"
  go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$tf_dir/$plugin" .
  ln "$tf_dir/$plugin" "$tofu_dir/$plugin"
  cat >"$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$work/plugins"
    include = ["registry.terraform.io/asm-modelmesh/asm", "registry.opentofu.org/asm-modelmesh/asm"]
  }
  direct {
    exclude = ["registry.terraform.io/asm-modelmesh/asm", "registry.opentofu.org/asm-modelmesh/asm"]
  }
}
RC
  export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1
}
