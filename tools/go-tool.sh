#!/usr/bin/env bash
# Builds one Go command of a pinned module into the tool cache, for the Makefile:
#
#   tools/go-tool.sh OUT FOLDER PACKAGE     PACKAGE as FOLDER's go.mod pins it (tools/, tools/opentofu, ...)
#   tools/go-tool.sh OUT - MODULE@VERSION   the root package of MODULE at VERSION (go install)
#
# OUT appears only complete (built beside it, then renamed), so an interrupted build is redone, never
# used. With TFASM_RESOLVE_ONLY=1 it only downloads what the build reads (tools/lib.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lib.sh
source "$root/tools/lib.sh" tools/go-tool.sh
[ $# = 3 ] || die "usage: $0 OUT FOLDER PACKAGE | OUT - MODULE@VERSION"
out=$1 folder=$2 package=$3
partial=$out.partial.$$
clear_partials "$out"
start=$(date +%s)

if [ "$folder" = - ]; then
  [[ $package == *@v* ]] || die "$package: expected MODULE@VERSION"
  # Outside any module, as go install MODULE@VERSION resolves it.
  (cd / && GOFLAGS=-mod=mod go mod download "$package") || die "cannot download $package through GOPROXY=$(go env GOPROXY)"
  stop_if_resolving "$package"
  mkdir -p "$partial"
  trap 'rm -rf "$partial"' EXIT
  GOBIN=$partial CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$package"
  # go install names the binary after the last path element, or the one before a major-version
  # suffix (github.com/goreleaser/goreleaser/v2 installs goreleaser).
  built=${package%@*}
  [[ $(basename "$built") =~ ^v[0-9]+$ ]] && built=$(dirname "$built")
  built=$partial/$(basename "$built")
else
  need "$root/$folder/go.mod"
  cd "$root/$folder"
  fetch_deps "$package"
  stop_if_resolving "$package (in $folder)"
  trap 'rm -f "$partial"' EXIT
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$partial" "$package"
  built=$partial
fi
mkdir -p "$(dirname "$out")"
mv "$built" "$out"
echo ">> built $out in $(( $(date +%s) - start ))s" >&2
