#!/usr/bin/env bash
# make cold-check: every resolution step of the build (what it downloads, which paths it reads) run
# as on a new user's machine, each step against an empty, throwaway Go module cache of its own and
# all against an empty cache folder, without compiling (TFASM_RESOLVE_ONLY=1, tools/lib.sh). Fails when a step would go on with a
# module, file or version that is not there; a warm machine cannot make it pass, since the caches it
# uses are new. Each step's output is shown only when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d "${TMPDIR:-/tmp}/asm-cold-check-XXXXXX")
# Removing some GB of module caches takes a minute or two: make test goes on meanwhile.
trap 'rm -rf "$scratch" >/dev/null 2>&1 &' EXIT
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
# No control plane from the machine: KUBEBUILDER_ASSETS and setup-envtest's store (under
# XDG_DATA_HOME) would let find-tools skip the build. -modcacherw: the throwaway module caches can be
# deleted.
export PATH="$scratch/bin:$PATH" TFASM_CACHE="$scratch/cache" CACHE="$scratch/cache" \
  XDG_DATA_HOME="$scratch/data" TFASM_RESOLVE_ONLY=1 GOFLAGS="${GOFLAGS:-} -modcacherw"
unset KUBEBUILDER_ASSETS MODELMESH_ASSETS NODE_ASSETS
# The seeding below reads only go.mod and go.sum files, never the module cache.
export GOMODCACHE="$scratch/gomodcache-seed"
mkdir -p "$GOMODCACHE"

# Bad cache entries, as an interrupted or older build leaves them, must be rebuilt, never used: the
# control plane without etcd, the ModelMesh entry without its manifests, the node's without kube-proxy, and a .partial folder of each
# from a build that no longer runs.
k8s_entry=$(tools/k8s/build.sh --entry)
modelmesh_entry=$(tools/modelmesh/build.sh --entry)
node_entry=$(tools/k8s/build-node.sh --entry)
mkdir -p "$k8s_entry" "$modelmesh_entry" "$node_entry"
install -m 755 /dev/null "$node_entry/kubelet"
for b in $(tools/k8s/build.sh --list); do [ "$b" = etcd ] || install -m 755 /dev/null "$k8s_entry/$b"; done
install -m 755 /dev/null "$modelmesh_entry/modelmesh-controller"
install -m 755 /dev/null "$modelmesh_entry/kwok"
true & gone=$!
wait $gone
mkdir -p "$k8s_entry.partial.$gone/kube-apiserver" "$modelmesh_entry.partial.$gone/kwok" "$node_entry.partial.$gone/kubelet"

# The steps run side by side (they mostly wait on downloads), each with a module cache of its own:
# in a shared one, a module that one step downloads would hide another step that reads it without
# downloading it (the provider's tests download github.com/kserve/modelmesh-serving, which
# tools/modelmesh/build.sh reads), as a warm machine does.
names=() pids=()
step() {
  local name=$1 cache=$2
  shift 2
  GOMODCACHE="$scratch/gomodcache-$cache" "$@" >"$scratch/step${#pids[@]}.log" 2>&1 &
  names+=("$name") pids+=($!)
}
start=$(date +%s)
step "control plane (make control-plane)" control-plane make -s --no-print-directory control-plane
step "ModelMesh controller and KWOK (make modelmesh-controller)" modelmesh make -s --no-print-directory modelmesh-controller
step "kubelet and kube-proxy (make node)" node make -s --no-print-directory node
step "terraform $(sed -n 's/^TF_VERSION *:= *//p' GNUmakefile), OpenTofu, tfplugindocs, goreleaser, the registry, versitygw, the puller, the MLServer adapter (make clis)" clis \
  make -k -s --no-print-directory clis
step "govulncheck and its database (scripts/govulncheck.sh)" vuln scripts/govulncheck.sh
step "golangci-lint (make lint)" lint \
  bash -c "cd / && GOFLAGS=-mod=mod go mod download github.com/golangci/golangci-lint/v2@${GOLANGCI_LINT_VERSION:?}"
step "the provider, its tests, the sandbox and the bench (go list -deps -test ./...)" provider go list -deps -test ./...

# make demo's way to the control plane, after make control-plane (whose downloads it shares): two
# builds of one entry at once would each clear the other's partial folder.
status=()
finish() { [ -n "${status[$1]:-}" ] || { wait "${pids[$1]}" && status[$1]=0 || status[$1]=$?; }; }
finish 0
step "make demo's control plane (scripts/find-tools.sh control-plane)" control-plane scripts/find-tools.sh control-plane

failed=0
for i in "${!pids[@]}"; do
  finish "$i"
  if [ "${status[$i]}" = 0 ]; then
    echo "ok      ${names[$i]}"
  else
    echo "FAILED  ${names[$i]}"
    grep -v '^go: downloading' "$scratch/step$i.log" | sed 's/^/        /'
    failed=1
  fi
done
# The broken entries were taken for what they are: resolved past (a build would follow), partials gone.
for entry in "$k8s_entry" "$modelmesh_entry" "$node_entry"; do
  if [ -e "$entry.partial.$gone" ]; then
    echo "FAILED  $entry.partial.$gone, left by an interrupted build, is still there"; failed=1
  fi
done
for script in tools/k8s/build.sh tools/modelmesh/build.sh tools/k8s/build-node.sh; do
  if ! grep -q "^$script: resolved" "$scratch"/step[012].log; then
    echo "FAILED  $script took an incomplete cache entry for a built one"; failed=1
  fi
done
echo "cold-check: $(( $(date +%s) - start ))s, module caches $(du -shc "$scratch"/gomodcache-* | tail -1 | cut -f1)"
exit $failed
