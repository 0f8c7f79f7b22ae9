# shellcheck shell=bash
# Sourced by every script that builds a cached tool (tools/go-tool.sh, tools/k8s/build.sh,
# tools/modelmesh/build.sh, scripts/govulncheck.sh). Each path such a script reads from the module
# cache or the tool cache comes through these functions, checked: on a fresh machine (empty module
# cache, empty cache folder) the module is downloaded first, or the script stops naming it, never
# going on with an empty path (issue 24).
#
# TFASM_RESOLVE_ONLY=1 runs only these steps (download what the build reads, check every path) and
# stops each script before it compiles: `make cold-check` runs them so against an empty module cache
# and an empty cache folder.

# The calling script, for messages: the argument of `source tools/lib.sh tools/k8s/build.sh`.
_lib_script=${1:-$0}

die() { echo "$_lib_script: $*" >&2; exit 1; }

# tool_cache: the folder every cached tool lives in (the Makefile's CACHE, exported as TFASM_CACHE).
tool_cache() { echo "${TFASM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-asm}"; }

# pinned_version MODULE: the version the go.mod of the current folder requires of MODULE (read from
# the file: asking go would load the whole module graph).
pinned_version() {
  local version
  version=$(awk -v m="$1" '($1 == "require" && $2 == m) { print $3; exit } ($1 == m && $2 ~ /^v/) { print $2; exit }' go.mod)
  [ -n "$version" ] || die "no version of $1 in $PWD/go.mod"
  echo "$version"
}

# module_field MODULE FIELD: FIELD ("Dir", "Info", ...) of MODULE at the version the current folder's
# go.mod pins, from `go mod download -json`, which downloads the module first. (`go list -m` reads
# only the module cache: for a module never downloaded it prints an empty line, and succeeds.)
module_field() {
  local json value
  json=$(go mod download -json "$1") ||
    die "cannot download $1 (pinned in $PWD/go.mod) through GOPROXY=$(go env GOPROXY)"
  value=$(sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$json")
  [ -n "$value" ] || die "go mod download -json $1 gave no $2"
  echo "$value"
}

# module_dir MODULE: MODULE's folder in the module cache, downloaded first.
module_dir() {
  local dir
  dir=$(module_field "$1" Dir)
  [ -d "$dir" ] || die "$1 is not in the module cache $(go env GOMODCACHE) after 'go mod download'"
  echo "$dir"
}

# need PATH...: stops naming the first PATH that does not exist.
need() {
  local path
  for path; do [ -e "$path" ] || die "$path does not exist"; done
}

# fetch_deps PACKAGE...: downloads every module a build of the packages reads and checks it against
# go.sum, without compiling (the same downloads `go build` would make).
fetch_deps() {
  go list -deps "$@" >/dev/null || die "cannot resolve $* in $PWD (go's message above)"
}

# clear_partials ENTRY: removes ENTRY.partial.<pid> left by a build that no longer runs (killed, or
# the machine stopped). Builds write there and rename to ENTRY only when complete, so a partial entry
# is never used; this only frees its space.
clear_partials() {
  local partial
  for partial in "$1".partial.*; do
    [ -e "$partial" ] || continue
    kill -0 "${partial##*.partial.}" 2>/dev/null && continue
    echo "$_lib_script: removing $partial, left by an interrupted build" >&2
    # Copies from the module cache are read-only until a build ends.
    chmod -R u+w "$partial" 2>/dev/null || true
    rm -rf "$partial" || die "cannot remove $partial, left by an interrupted build: delete it"
  done
}

# stop_if_resolving WHAT: in a resolve-only run, says what was resolved and exits before compiling.
stop_if_resolving() {
  [ "${TFASM_RESOLVE_ONLY:-}" = 1 ] || return 0
  echo "$_lib_script: resolved $*" >&2
  exit 0
}
