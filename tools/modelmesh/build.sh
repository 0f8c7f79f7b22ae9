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
# Prints that folder (with --entry, without building it). testcluster finds it with $MODELMESH_ASSETS
# or by running this script.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=tools/lib.sh
source ../lib.sh tools/modelmesh/build.sh
# Test-only binaries, built with the machine's own Go like tools/k8s.
export GOTOOLCHAIN=local
key=$( (cat go.mod go.sum kwok/go.mod kwok/go.sum build.sh; go version) | sha256sum | cut -c1-16)
dir="$(tool_cache)/modelmesh-$key"
serving_version=$(pinned_version github.com/kserve/modelmesh-serving)
# Everything the stack reads from the entry; one missing means an interrupted or older build: rebuilt.
needed="modelmesh-controller kwok serving/config/crd/bases serving/config/internal/base
  serving/github.com/kserve/modelmesh-serving@$serving_version/config/default/config-defaults.yaml kwok-stages"
complete() {
  local path
  for path in $needed; do [ -e "$dir/$path" ] || return 1; done
  [ -x "$dir/modelmesh-controller" ] && [ -x "$dir/kwok" ]
}
if complete || [ "${1:-}" = --entry ]; then # --entry: the cache entry, built or not
  echo "$dir"
  exit 0
fi

serving_dir=$(module_dir github.com/kserve/modelmesh-serving)
kwok_version=$(cd kwok && pinned_version sigs.k8s.io/kwok)
kwok_dir=$(cd kwok && module_dir sigs.k8s.io/kwok)
need "$serving_dir/main.go" "$serving_dir/config/crd/bases" "$serving_dir/config/internal/base" \
  "$serving_dir/config/default/config-defaults.yaml" "$kwok_dir/kustomize/stage"
fetch_deps github.com/kserve/modelmesh-serving
clear_partials "$dir"
(cd kwok && fetch_deps sigs.k8s.io/kwok/cmd/kwok)

# The controller's webhook server listens on :9443 of every address, fixed in its main.go
# (webhook.Options{Port: 9443}); several test clusters on one machine would take each other's port.
# The build gives it a host from $TESTCLUSTER_WEBHOOK_HOST instead (empty: every address, as shipped),
# by compiling main.go with that one line changed. Go refuses overlays of module-cache files, so the
# changed copy is compiled as a main package of this module, from a folder that exists only during
# the build (never committed): every other package is the pinned module's.
tmp="$dir.partial.$$"
main_dir="controller-main.tmp.$$"
trap 'rm -rf "$tmp" "$main_dir"' EXIT
mkdir -p "$tmp" "$main_dir"
sed 's/webhook\.NewServer(webhook\.Options{Port: 9443})/webhook.NewServer(webhook.Options{Host: os.Getenv("TESTCLUSTER_WEBHOOK_HOST"), Port: 9443})/' \
  "$serving_dir/main.go" >"$main_dir/main.go"
if [ "$(grep -c 'TESTCLUSTER_WEBHOOK_HOST' "$main_dir/main.go")" != 1 ]; then
  die "the webhook line of $serving_dir/main.go changed; update the edit"
fi
stop_if_resolving "github.com/kserve/modelmesh-serving $serving_version ($serving_dir), sigs.k8s.io/kwok $kwok_version ($kwok_dir)"

echo ">> building the ModelMesh Serving controller $serving_version (first run only: ~13 min on 2 busy cores)" >&2
start=$(date +%s)
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$tmp/modelmesh-controller" "./$main_dir" >&2
echo ">> controller built in $(( $(date +%s) - start ))s" >&2

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
rm -rf "$dir" && mv "$tmp" "$dir"
complete || die "$dir lacks one of: $needed"
echo "$dir"
