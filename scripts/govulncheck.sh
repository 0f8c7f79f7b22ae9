#!/usr/bin/env bash
# Runs govulncheck offline: vuln.go.dev is unreachable from our machines, so the vulnerability
# database is built from the golang.org/x/vulndb module pinned in tools/vuln/go.mod (fetched through
# the Go module proxy and checked against tools/vuln/go.sum), and govulncheck is built from the
# golang.org/x/vuln version pinned there. Both land in a cache outside git, keyed by version in
# the path, so they are built once per version.
#
# Usage: scripts/govulncheck.sh [govulncheck flags and patterns]   (default: ./...)
# Exits 3 when the code calls a vulnerable symbol, 0 when it does not (see govulncheck -h).
# To refresh the data: cd tools/vuln && go get golang.org/x/vulndb@latest && go mod tidy
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tools/lib.sh
source "$root/tools/lib.sh" scripts/govulncheck.sh
tools="$root/tools/vuln"
cache="$(tool_cache)"
cd "$tools"
vuln_version="$(pinned_version golang.org/x/vuln)"
vulndb_version="$(pinned_version golang.org/x/vulndb)"

bin="$cache/govulncheck-$vuln_version/govulncheck"
db="$cache/vulndb-$vulndb_version"

if [[ ! -x "$bin" ]]; then
	echo ">> building govulncheck $vuln_version (first run only)" >&2
	"$root/tools/go-tool.sh" "$bin" tools/vuln golang.org/x/vuln/cmd/govulncheck
fi

# modules.json is what govulncheck probes to recognise the v1 layout; the folder is only renamed
# into place once complete, so an interrupted build is redone rather than half used.
if [[ ! -f "$db/index/modules.json" ]]; then
	src="$(module_dir golang.org/x/vulndb)"
	need "$src/data/osv"
	# The module's commit time, RFC 3339 in UTC, from the proxy's .info file of the version.
	info="$(module_field golang.org/x/vulndb Info)"
	modified="$(sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$info")"
	[[ -n "$modified" ]] || die "$info gives no Time"
	fetch_deps golang.org/x/vulndb/cmd/indexdb
	stop_if_resolving "golang.org/x/vuln $vuln_version, golang.org/x/vulndb $vulndb_version ($src)"
	echo ">> building the vulnerability database from golang.org/x/vulndb $vulndb_version (first run only, a few minutes)" >&2
	start=$(date +%s)
	mkdir -p "$cache"
	tmp="$(mktemp -d "$cache/.vulndb-build.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	# indexdb is x/vulndb's own converter from its OSV files to the v1 database layout.
	go build -trimpath -o "$tmp/indexdb" golang.org/x/vulndb/cmd/indexdb
	"$tmp/indexdb" -vulns "$src/data/osv" -out "$tmp/db"
	# The OSV files in the repo carry zero timestamps (vuln.go.dev fills them in from git history);
	# stamp the index with the module's commit time so the report shows how fresh the data is.
	printf '{"modified":"%s"}' "$modified" >"$tmp/db/index/db.json"
	# The .gz copies are only served over HTTP; a file:// database reads the plain .json files.
	find "$tmp/db" -name '*.gz' -delete
	# A folder without the index is what an older, interrupted build left: never used, replaced.
	[[ ! -e "$db" || -f "$db/index/modules.json" ]] || rm -rf "$db"
	# -T: never nest into a folder that a concurrent run finished first (then keep that one).
	mv -T "$tmp/db" "$db" || [[ -f "$db/index/modules.json" ]]
	echo ">> vulnerability database built in $(( $(date +%s) - start ))s" >&2
fi
stop_if_resolving "golang.org/x/vuln $vuln_version, golang.org/x/vulndb $vulndb_version (database built)"

cd "$root"
[[ $# -gt 0 ]] || set -- ./...
rc=0
"$bin" -db "file://$db" "$@" || rc=$?
if [[ $rc -eq 3 ]]; then
	echo "govulncheck: the code above calls vulnerable symbols; bump the listed modules (or the Go toolchain for the standard library) to the 'Fixed in' versions" >&2
fi
exit "$rc"
