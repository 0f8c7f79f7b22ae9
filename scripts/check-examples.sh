#!/usr/bin/env bash
# terraform fmt -check and validate on every example folder, and `terraform test` where a folder has
# tests/ (a CLI with mock_provider, 1.7+), with the locally built provider, so the examples the docs
# show cannot rot. The snippets written into the docs' templates and README.md (```terraform and
# ```hcl blocks) are validated too: alone, or, when the line right above the fence says so,
#   <!-- check: with examples/FOLDER -->   added to that example folder (a snippet extending it)
#   <!-- check: terraform >= X.Y -->      only under that CLI or newer (make test-newest-terraform)
#   <!-- check: fmt, REASON -->           formatting only (other providers, which cannot be installed here)
# Variables a snippet uses and nothing declares are declared for it.
set -euo pipefail
cd "$(dirname "$0")/.."
terraform=${TERRAFORM:?set TERRAFORM to the terraform binary}
work=$(mktemp -d /tmp/asm-examples-XXXXXX)
trap 'rm -rf "$work"' EXIT
version=$(cat VERSION)

# shellcheck source=scripts/local-provider.sh
source scripts/local-provider.sh
install_local_provider "$work" "$version"
"$terraform" fmt -check -recursive -diff examples
cp -r examples "$work/examples"

# Module tests (tests/*.tftest.hcl) mock the provider (mock_provider), which Terraform has since 1.7.
cli_version=$("$terraform" version -json | sed -n 's/.*"terraform_version": *"\([^"]*\)".*/\1/p')
mocks=
[ "$(printf '%s\n' 1.7.0 "$cli_version" | sort -V | head -n1)" != 1.7.0 ] || mocks=1

# The docs' snippets, one folder each: <file>-<n>/snippet.tf and the line above its fence.
awk -v out="$work/snippets" '
  FNR == 1 { n = 0; name = FILENAME; sub(/.*\//, "", name); sub(/\.md(\.tmpl)?$/, "", name) }
  /^```(terraform|hcl)$/ { n++; dir = out "/" name "-" n; system("mkdir -p " dir); print prev > (dir "/check"); close(dir "/check"); on = 1; next }
  on && /^```$/ { on = 0; close(dir "/snippet.tf"); next }
  on { print > (dir "/snippet.tf") }
  { prev = $0 }
' README.md $(find templates -name '*.md.tmpl' | sort)

ok() { echo "ok      $1${2:+ ($2)}"; }
failed=0
# check NAME DIR: init and validate DIR (and terraform test its tests/ under a CLI with mocks).
check() {
  local name=$1 dir=$2 out runs
  # Snippets for the docs rely on the provider's default source; give them the real one.
  grep -qs required_providers "$dir"/*.tf ||
    printf 'terraform {\n  required_providers {\n    asm = { source = "asm-modelmesh/asm" }\n  }\n}\n' >"$dir/versions_check.tf"
  for v in $(cat "$dir"/*.tf | grep -o 'var\.[a-z_][a-z0-9_]*' | sort -u | cut -d. -f2); do
    grep -qs "^variable \"$v\"" "$dir"/*.tf || echo "variable \"$v\" {}" >>"$dir/variables_check.tf"
  done
  if out=$("$terraform" -chdir="$dir" init -backend=false -input=false -no-color 2>&1) &&
     out=$("$terraform" -chdir="$dir" validate -no-color 2>&1) &&
     { [ -z "$mocks" ] || [ ! -d "$dir/tests" ] || out=$("$terraform" -chdir="$dir" test -no-color 2>&1); }; then
    runs=
    [ -z "$mocks" ] || [ ! -d "$dir/tests" ] ||
      runs="terraform test: $(grep -c '^run ' "$dir"/tests/*.tftest.hcl | awk -F: '{n+=$NF} END {print n}') runs"
    ok "$name" "$runs"
  else
    echo "FAILED  $name"; echo "$out" | sed 's/^/        /'; failed=1
  fi
}

for dir in $(find "$work/examples" -name '*.tf' -exec dirname {} \; | sort -u); do
  check "${dir#"$work/"}" "$dir"
done

for dir in "$work"/snippets/*/; do
  dir=${dir%/} name="docs snippet ${dir##*/}"
  directive=$(sed -n 's/^<!-- check: \(.*\) -->$/\1/p' "$dir/check")
  case $directive in
  "")
    check "$name" "$dir" ;;
  "with "*)
    example=${directive#with }
    [ -d "$example" ] || { echo "FAILED  $name: '$example' in its check comment is no folder"; failed=1; continue; }
    cp "$example"/*.tf "$dir/"
    check "$name, with $example" "$dir" ;;
  "terraform >= "*)
    if [ "$(printf '%s\n' "${directive#terraform >= }" "$cli_version" | sort -V | head -n1)" = "${directive#terraform >= }" ]; then
      check "$name" "$dir"
    else
      echo "skip    $name: needs $directive, this CLI is $cli_version"
    fi ;;
  "fmt, "*)
    if out=$("$terraform" fmt -check -diff -no-color "$dir/snippet.tf" 2>&1); then ok "$name" "fmt only: ${directive#fmt, }"
    else echo "FAILED  $name"; echo "$out" | sed 's/^/        /'; failed=1; fi ;;
  *)
    echo "FAILED  $name: unknown check comment '$directive'"; failed=1 ;;
  esac
done
exit $failed
