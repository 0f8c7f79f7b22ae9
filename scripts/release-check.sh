#!/usr/bin/env bash
# The release's consistency checks. VERSION is the one version source: `make build` stamps it,
# goreleaser's snapshots carry it, and a release's tag must be v + VERSION.
#
#   scripts/release-check.sh config                  make release-check: `goreleaser check` of .goreleaser.yml,
#                                                    VERSION and CHANGELOG.md, the workflow's goreleaser pin
#   scripts/release-check.sh version TAG IS_SNAPSHOT  goreleaser's before hook: a release's tag is v + VERSION
#                                                    and CHANGELOG.md has its dated section
#   scripts/release-check.sh notes                   CHANGELOG.md's section of VERSION (the release notes)
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "release-check: $*" >&2; exit 1; }

version=$(cat VERSION)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  fail "VERSION is '$version', not a semantic version without 'v' (such as 0.1.0)"
# The heading Keep a Changelog gives a release: "## [0.1.0] - 2026-12-07".
released="^## \[${version//./\\.}\] - [0-9]{4}-[0-9]{2}-[0-9]{2}\$"

case "${1:-}" in
config)
  goreleaser=${GORELEASER:?set GORELEASER to the goreleaser binary}
  "$goreleaser" check --quiet || fail "goreleaser check refused .goreleaser.yml (output above)"
  # Before the release, its changes are listed under Unreleased; the release renames that section.
  grep -Eq "$released|^## \[Unreleased\]\$" CHANGELOG.md ||
    fail "CHANGELOG.md has neither an '## [Unreleased]' section nor one for $version"
  # The workflow releases with the goreleaser this check ran.
  pin=$(sed -n "s/^ *version: *'\{0,1\}\(v[0-9.]*\)'\{0,1\}\$/\1/p" .github/workflows/release.yml)
  [ "$pin" = "${GORELEASER_VERSION:?}" ] ||
    fail ".github/workflows/release.yml runs goreleaser '$pin', the Makefile checks with $GORELEASER_VERSION"
  echo "ok      .goreleaser.yml (goreleaser $GORELEASER_VERSION check), VERSION $version, CHANGELOG.md, release workflow"
  ;;
version)
  [ $# = 3 ] || fail "usage: $0 version TAG IS_SNAPSHOT"
  [ "$3" != true ] || exit 0
  [ "$2" = "v$version" ] || fail "tag '$2' is not v$version: set VERSION to the release's number (and tag v + VERSION)"
  grep -Eq "$released" CHANGELOG.md ||
    fail "CHANGELOG.md has no '## [$version] - YYYY-MM-DD' section: rename '## [Unreleased]' to it for the release"
  ;;
notes)
  # From the version's heading to the next heading or to the link references at the end.
  notes=$(awk -v want="## [$version]" '
    index($0, "## [") == 1 { on = index($0, want) == 1; next }
    /^\[[^]]*\]: / { on = 0 }
    on' CHANGELOG.md)
  [ -n "${notes//[[:space:]]/}" ] || fail "CHANGELOG.md has no section for $version"
  printf '%s\n' "$notes"
  ;;
*) fail "usage: $0 config | version TAG IS_SNAPSHOT | notes" ;;
esac
