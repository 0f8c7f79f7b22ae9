#!/usr/bin/env bash
# Builds the control plane the local stack runs (kube-apiserver, kube-controller-manager,
# kube-scheduler and etcd) from the pinned modules in
# this folder, once per (go.mod, go.sum, go version), into a cache outside git. Prints the folder
# holding the binaries, which is what envtest expects in KUBEBUILDER_ASSETS; with --list, prints the
# names of the binaries the stack needs in that folder, and builds nothing; with --entry, the folder
# it would build into.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=tools/lib.sh
source ../lib.sh tools/k8s/build.sh
# Test-only binaries: built with the machine's own Go, so the toolchain the Makefile pins for the
# provider (go.mod's toolchain line) does not force a second 15-minute build.
export GOTOOLCHAIN=local
key=$( (cat go.mod go.sum; go version) | sha256sum | cut -c1-16)
dir="$(tool_cache)/k8s-$key"
# The Kubernetes binaries the stack runs: the controllers turn the ModelMesh controller's Deployments
# into Pods on KWOK's fake Nodes and give Services their Endpoints.
binaries="kube-apiserver kube-controller-manager kube-scheduler"
# Everything the stack needs from this folder: the one list, also asked for by scripts/find-tools.sh.
needed="$binaries etcd"
case ${1:-} in
  --list) echo "$needed"; exit 0 ;;
  --entry) echo "$dir"; exit 0 ;; # the cache entry, built or not (make cold-check seeds a broken one)
esac
built() { for b in $needed; do [ -x "$dir/$b" ] || return 1; done; }
if built; then
  echo "$dir"
  exit 0
fi
k8s_version=$(pinned_version k8s.io/kubernetes)
minor=$(echo "$k8s_version" | cut -d. -f2)
packages="go.etcd.io/etcd/server/v3"
for b in $binaries; do packages="$packages k8s.io/kubernetes/cmd/$b"; done
# shellcheck disable=SC2086 # one word per package
fetch_deps $packages
clear_partials "$dir"
stop_if_resolving "$packages"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
tmp="$dir.partial.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo ">> building $binaries $k8s_version and etcd (first run only: ~11 min on an idle machine, ~2.5 GB RAM)" >&2
start=$(date +%s)
for b in $binaries; do
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b" >&2
done
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
rm -rf "$dir" && mv "$tmp" "$dir"
echo ">> built in $(( $(date +%s) - start ))s into $dir" >&2
echo "$dir"
