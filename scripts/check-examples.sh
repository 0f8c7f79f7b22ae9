#!/usr/bin/env bash
# terraform fmt -check and validate on every example folder, and `terraform test` where a folder has
# tests/ (a CLI with mock_provider, 1.7+), with the locally built provider, so the examples the docs
# show cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
terraform=${TERRAFORM:?set TERRAFORM to the terraform binary}
work=$(mktemp -d /tmp/asm-examples-XXXXXX)
trap 'rm -rf "$work"' EXIT
version=0.0.1

# shellcheck source=scripts/local-provider.sh
source scripts/local-provider.sh
install_local_provider "$work" "$version"
"$terraform" fmt -check -recursive -diff examples
cp -r examples "$work/examples"

# Module tests (tests/*.tftest.hcl) mock the provider (mock_provider), which Terraform has since 1.7.
cli_version=$("$terraform" version -json | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')
mocks=
[ "$(printf '%s\n' 1.7.0 "$cli_version" | sort -V | head -n1)" != 1.7.0 ] || mocks=1

failed=0
for dir in $(find "$work/examples" -name '*.tf' -exec dirname {} \; | sort -u); do
  name=${dir#"$work/"}
  # Snippets for the docs rely on the provider's default source; give them the real one.
  grep -qs required_providers "$dir"/*.tf ||
    printf 'terraform {\n  required_providers {\n    asm = { source = "asm-modelmesh/asm" }\n  }\n}\n' >"$dir/versions_check.tf"
  if out=$("$terraform" -chdir="$dir" init -backend=false -input=false -no-color 2>&1) &&
     out=$("$terraform" -chdir="$dir" validate -no-color 2>&1) &&
     { [ -z "$mocks" ] || [ ! -d "$dir/tests" ] || out=$("$terraform" -chdir="$dir" test -no-color 2>&1); }; then
    echo "ok      $name${mocks:+$([ -d "$dir/tests" ] && echo " (terraform test: $(grep -c '^run ' "$dir"/tests/*.tftest.hcl | awk -F: '{n+=$NF} END {print n}') runs)")}"
  else
    echo "FAILED  $name"; echo "$out" | sed 's/^/        /'; failed=1
  fi
done
exit $failed
