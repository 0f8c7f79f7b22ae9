# Sourced by the scripts that run terraform against a locally built provider.
# install_local_provider WORK VERSION builds the provider into a filesystem mirror under WORK and
# points terraform at it (TF_CLI_CONFIG_FILE), so `terraform init` installs it like a registry release.
# VERSION must be a plain release number: terraform never selects a pre-release without an exact constraint.
install_local_provider() {
  local work=$1 version=$2
  local plugin_dir="$work/plugins/registry.terraform.io/asm-modelmesh/asm/$version/$(go env GOOS)_$(go env GOARCH)"
  mkdir -p "$plugin_dir"
  go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$plugin_dir/terraform-provider-asm_v$version" .
  cat >"$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$work/plugins"
    include = ["registry.terraform.io/asm-modelmesh/asm"]
  }
  direct {
    exclude = ["registry.terraform.io/asm-modelmesh/asm"]
  }
}
RC
  export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1
}
