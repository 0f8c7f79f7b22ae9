#!/usr/bin/env bash
# Builds the real node's binaries (internal/testnode, issue 25), kubelet and kube-proxy, from the
# Kubernetes version the control plane pins, into their own cache entry. Their module is node/
# (its own go.mod and go.sum): build.sh keys its cache on ../go.mod and ../go.sum, so adding the
# kubelet's dependencies there would rebuild the control plane. Prints the folder holding the
# binaries; with --entry, the folder it would build into.
set -euo pipefail
cd "$(dirname "$0")/node"
# shellcheck source=tools/lib.sh
source ../../lib.sh tools/k8s/build-node.sh
# As build.sh: the machine's own Go, not the provider's pinned toolchain.
export GOTOOLCHAIN=local
key=$( (cat go.mod go.sum; go version) | sha256sum | cut -c1-16)
dir="$(tool_cache)/k8s-node-$key"
binaries="kubelet kube-proxy"
case ${1:-} in
  --entry) echo "$dir"; exit 0 ;;
esac
built() { for b in $binaries; do [ -x "$dir/$b" ] || return 1; done; }
if built; then
  echo "$dir"
  exit 0
fi
k8s_version=$(pinned_version k8s.io/kubernetes)
minor=$(echo "$k8s_version" | cut -d. -f2)
packages=""
for b in $binaries; do packages="$packages k8s.io/kubernetes/cmd/$b"; done
# shellcheck disable=SC2086 # one word per package
fetch_deps $packages
clear_partials "$dir"
stop_if_resolving "$packages"
# The same version stamp as the control plane: the kubelet reports it in Node.status.nodeInfo
# and the apiserver's version skew policy reads it.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
tmp="$dir.partial.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo ">> building $binaries $k8s_version (first run only)" >&2
start=$(date +%s)
for b in $binaries; do
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b" >&2
done
rm -rf "$dir" && mv "$tmp" "$dir"
echo ">> built in $(( $(date +%s) - start ))s into $dir" >&2
echo "$dir"
