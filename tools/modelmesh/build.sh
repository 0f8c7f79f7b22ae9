#!/usr/bin/env bash
# Builds the ModelMesh Serving controller (github.com/kserve/modelmesh-serving, pinned in go.mod) and
# KWOK's kwok controller (pinned in kwok/go.mod) once per (go.mod, go.sum, this script, go version)
# into a cache outside git, next to what they read from their modules at run time:
#
#   modelmesh-controller  the controller (its main package is the module root)
#   kwok                  KWOK's controller, which plays the kubelet of fake Nodes
#   serving/              working folder of the controller: the module's config/ (manifest template
#                         config/internal/base, default config config/default, CRDs config/crd/bases)
#   kwok-stages/          KWOK's stage files (kustomize/stage of its module)
#
# Prints that folder. testcluster finds it with $MODELMESH_ASSETS or by running this script.
set -euo pipefail
cd "$(dirname "$0")"
# Test-only binaries, built with the machine's own Go like tools/k8s.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
key=$( (cat go.mod go.sum kwok/go.mod kwok/go.sum build.sh; go version) | sha256sum | cut -c1-16)
dir="${TFASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-asm}/modelmesh-$key"
if [ -x "$dir/modelmesh-controller" ] && [ -x "$dir/kwok" ]; then
  echo "$dir"
  exit 0
fi
serving_version=$(awk '$1=="require" && $2=="github.com/kserve/modelmesh-serving"{print $3}' go.mod)
serving_dir=$(go list -m -f '{{.Dir}}' github.com/kserve/modelmesh-serving)
kwok_dir=$(cd kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
tmp="$dir.partial.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# The controller's webhook server listens on :9443 of every address, fixed in its main.go
# (webhook.Options{Port: 9443}); several test clusters on one machine would take each other's port.
# The build gives it a host from $TESTCLUSTER_WEBHOOK_HOST instead (empty: every address, as shipped),
# by compiling main.go with that one line changed. Go refuses overlays of module-cache files, so the
# changed copy is compiled as a main package of this module, from a folder that exists only during
# the build (never committed): every other package is the pinned module's.
main_dir="controller-main.tmp.$$"
trap 'rm -rf "$tmp" "$main_dir"' EXIT
mkdir -p "$main_dir"
sed 's/webhook\.NewServer(webhook\.Options{Port: 9443})/webhook.NewServer(webhook.Options{Host: os.Getenv("TESTCLUSTER_WEBHOOK_HOST"), Port: 9443})/' \
  "$serving_dir/main.go" >"$main_dir/main.go"
if [ "$(grep -c 'TESTCLUSTER_WEBHOOK_HOST' "$main_dir/main.go")" != 1 ]; then
  echo "tools/modelmesh/build.sh: the webhook line of $serving_dir/main.go changed; update the edit" >&2
  exit 1
fi

echo ">> building the ModelMesh Serving controller $serving_version (first run only: ~13 min on 2 busy cores)" >&2
start=$(date +%s)
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/modelmesh-controller" "./$main_dir" >&2
echo ">> controller built in $(( $(date +%s) - start ))s" >&2

kwok_version=$(awk '$1=="require" && $2=="sigs.k8s.io/kwok"{print $3}' kwok/go.mod)
echo ">> building KWOK $kwok_version (first run only: ~11 min on 2 busy cores)" >&2
start=$(date +%s)
(cd kwok && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
  -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok) >&2
echo ">> kwok built in $(( $(date +%s) - start ))s" >&2

# The controller reads its manifest template relative to its working folder, and its default config
# relative to the source path of pkg/config/config.go, which -trimpath records as
# github.com/kserve/modelmesh-serving@<version>/pkg/config: both resolve inside serving/.
mkdir -p "$tmp/serving/github.com/kserve"
cp -r "$serving_dir/config" "$tmp/serving/config"
ln -s ../.. "$tmp/serving/github.com/kserve/modelmesh-serving@$serving_version"
cp -r "$kwok_dir/kustomize/stage" "$tmp/kwok-stages"
chmod -R u+w "$tmp"
test -f "$tmp/serving/github.com/kserve/modelmesh-serving@$serving_version/config/default/config-defaults.yaml"
rm -rf "$dir" && mv "$tmp" "$dir"
echo "$dir"
