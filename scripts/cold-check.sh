#!/usr/bin/env bash
# make cold-check: every resolution step of the build (what it downloads, which paths it reads) run
# as on a new user's machine, against an empty, throwaway Go module cache and an empty cache folder,
# without compiling (TFASM_RESOLVE_ONLY=1, tools/lib.sh). Fails when a step would go on with a
# module, file or version that is not there; a warm machine cannot make it pass, since the caches it
# uses are new. Each step's output is shown only when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d "${TMPDIR:-/tmp}/asm-cold-check-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/bin" "$scratch/cache" "$scratch/data"

# A go that refuses to compile: a step that does not stop before compiling in a resolve-only run
# fails at once instead of spending minutes.
real_go=$(command -v go)
cat >"$scratch/bin/go" <<EOF
#!/bin/sh
case "\$1" in build|install|run|test)
  echo "cold-check: 'go \$*' would compile in a resolve-only run; the step must stop before it (TFASM_RESOLVE_ONLY=1)" >&2
  exit 97 ;;
esac
exec "$real_go" "\$@"
EOF
chmod +x "$scratch/bin/go"
# -modcacherw: the throwaway module cache can be deleted. No control plane from the machine:
# KUBEBUILDER_ASSETS and setup-envtest's store (under XDG_DATA_HOME) would let find-tools skip the build.
export PATH="$scratch/bin:$PATH" GOMODCACHE="$scratch/gomodcache" TFASM_CACHE="$scratch/cache" \
  CACHE="$scratch/cache" XDG_DATA_HOME="$scratch/data" TFASM_RESOLVE_ONLY=1 GOFLAGS="${GOFLAGS:-} -modcacherw"
unset KUBEBUILDER_ASSETS MODELMESH_ASSETS

# The steps run side by side (they mostly wait on downloads; go locks the shared module cache), each
# with its own log.
names=() pids=()
step() {
  local name=$1
  shift
  "$@" >"$scratch/step${#pids[@]}.log" 2>&1 &
  names+=("$name") pids+=($!)
}
start=$(date +%s)
step "make tools (terraform $(sed -n 's/^TF_VERSION *:= *//p' GNUmakefile), OpenTofu, tfplugindocs, control plane, ModelMesh controller, KWOK)" \
  make -k -s --no-print-directory tools
step "scripts/govulncheck.sh (govulncheck and its database)" scripts/govulncheck.sh
step "scripts/find-tools.sh control-plane (make demo)" scripts/find-tools.sh control-plane
step "golangci-lint (make lint)" \
  bash -c "cd / && GOFLAGS=-mod=mod go mod download github.com/golangci/golangci-lint/v2@${GOLANGCI_LINT_VERSION:?}"
step "the provider, its tests, the sandbox and the bench (go list -deps -test ./...)" go list -deps -test ./...

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "ok      ${names[$i]}"
  else
    echo "FAILED  ${names[$i]}"
    grep -v '^go: downloading' "$scratch/step$i.log" | sed 's/^/        /'
    failed=1
  fi
done
echo "cold-check: $(( $(date +%s) - start ))s, module cache $(du -sh "$scratch/gomodcache" | cut -f1)"
exit $failed
