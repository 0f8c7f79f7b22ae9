#!/usr/bin/env bash
# Installs the provider the way a user's `terraform init` gets a release: goreleaser builds the
# binary (.goreleaser.yml's flags, ldflags and binary name, for this machine only), which is packed
# as a release is (terraform-provider-asm_<version>_<os>_<arch>.zip and its _SHA256SUMS line) and
# served by a provider network mirror over HTTPS. terraform init installs from it; the lock file
# must record the zip's package hash, computed here independently. A zip other than SHA256SUMS
# lists, and one other than the lock file records, must be refused. Needs GORELEASER and
# TERRAFORM; takes seconds once the Go build cache is warm.
set -euo pipefail
cd "$(dirname "$0")/.."
goreleaser=${GORELEASER:?set GORELEASER to the goreleaser binary}
terraform=${TERRAFORM:?set TERRAFORM to the terraform binary}
version=$(cat VERSION)
platform="$(go env GOOS)_$(go env GOARCH)"
name=terraform-provider-asm
work=$(mktemp -d /tmp/asm-mirror-XXXXXX)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "mirror-install: $*" >&2; exit 1; }

# The snapshot's version is VERSION (.goreleaser.yml's snapshot.version_template), the number a
# release of this tree would carry. The build goes to dist/ (git-ignored).
mkdir -p "$work/bin"
"$goreleaser" build --snapshot --single-target --clean --output "$work/bin/${name}_v$version" >"$work/goreleaser.log" 2>&1 ||
  { cat "$work/goreleaser.log"; fail "goreleaser build failed"; }

# The release layout, after .goreleaser.yml: archives.name_template and checksum.name_template. A
# release zip holds the binary at its root (goreleaser's archive pipe; its default extra files,
# LICENSE, README.md and CHANGELOG.md, ride along and Terraform ignores them).
release=$work/release
mkdir -p "$release"
zip_name=${name}_${version}_${platform}.zip
cp LICENSE README.md CHANGELOG.md "$work/bin/"
(cd "$work/bin" && zip -q -X "$release/$zip_name" "${name}_v$version" LICENSE README.md CHANGELOG.md)
(cd "$release" && sha256sum "$zip_name" >"${name}_${version}_SHA256SUMS")
sum=$(cut -d' ' -f1 "$release/${name}_${version}_SHA256SUMS")

# A provider network mirror (https://developer.hashicorp.com/terraform/internals/provider-network-mirror-protocol):
# <host>/<namespace>/<type>/index.json lists the versions, <version>.json each platform's archive
# URL (relative to it) and the hashes a mirror copies from the release's SHA256SUMS (zh:).
mirror=$work/mirror
for host in registry.terraform.io registry.opentofu.org; do
  dir=$mirror/$host/asm-modelmesh/asm
  mkdir -p "$dir"
  ln "$release/$zip_name" "$dir/$zip_name"
  printf '{"versions":{"%s":{}}}\n' "$version" >"$dir/index.json"
  printf '{"archives":{"%s":{"url":"%s","hashes":["zh:%s"]}}}\n' "$platform" "$zip_name" "$sum" >"$dir/$version.json"
done

go build -o "$work/https-dir" ./scripts/https-dir
"$work/https-dir" "$mirror" "$work/ca.pem" "$work/url" &
server_pid=$!
for _ in $(seq 1 100); do [ -f "$work/url" ] && break; kill -0 "$server_pid" || fail "the mirror server stopped"; sleep 0.1; done
[ -f "$work/url" ] || fail "the mirror server did not start"
url=$(cat "$work/url")

# Only this provider comes from the mirror; nothing else is reachable anyway.
cat >"$work/terraformrc" <<RC
provider_installation {
  network_mirror {
    url     = "$url"
    include = ["registry.terraform.io/asm-modelmesh/asm", "registry.opentofu.org/asm-modelmesh/asm"]
  }
}
RC
# init: a configuration that asks for exactly this release, as a user pins it.
init() { # init DIR: terraform init in DIR against the mirror, output in DIR/init.log
  mkdir -p "$1"
  printf 'terraform {\n  required_providers {\n    asm = { source = "asm-modelmesh/asm", version = "%s" }\n  }\n}\n' "$version" >"$1/main.tf"
  SSL_CERT_FILE=$work/ca.pem TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1 \
    "$terraform" -chdir="$1" init -input=false -no-color >"$1/init.log" 2>&1
}

# h1: of a provider zip as Terraform records it in the lock file: golang.org/x/mod/sumdb/dirhash's
# Hash1 over the zip's files (terraform's getproviders.PackageHashV1): a "<sha256>  <name>" line per
# file in byte order of names, hashed with SHA-256, base64.
h1() {
  printf 'h1:%s' "$(unzip -Z1 "$1" | LC_ALL=C sort | while IFS= read -r f; do
    printf '%s  %s\n' "$(unzip -p "$1" "$f" | sha256sum | cut -d' ' -f1)" "$f"
  done | openssl dgst -sha256 -binary | base64)"
}

init "$work/user" || { cat "$work/user/init.log"; fail "terraform init against the mirror failed"; }
lock=$work/user/.terraform.lock.hcl
grep -q "version *= *\"$version\"" "$lock" || { cat "$lock"; fail "the lock file does not select $version"; }
# Only hashes from a signed source (the registry's GPG-signed SHA256SUMS) enter the lock file as
# zh:; from a mirror it records the h1: of the package it installed, which must be the released zip's.
want=$(h1 "$release/$zip_name")
grep -qF "\"$want\"" "$lock" || { cat "$lock"; fail "the lock file lacks the zip's package hash $want"; }
# The installed binary is the one in the zip, and it serves its schema.
SSL_CERT_FILE=$work/ca.pem TF_CLI_CONFIG_FILE=$work/terraformrc "$terraform" -chdir="$work/user" validate -no-color >/dev/null ||
  fail "terraform validate with the installed provider failed"

# Another zip under the same name and version (here: without LICENSE, README.md and CHANGELOG.md).
other=$work/other.zip
(cd "$work/bin" && zip -q -X "$other" "${name}_v$version")
for host in registry.terraform.io registry.opentofu.org; do
  ln -f "$other" "$mirror/$host/asm-modelmesh/asm/$zip_name"
done
# The mirror still lists the SHA256SUMS hash: init must refuse the zip that does not match it.
if init "$work/tampered"; then fail "terraform init installed a zip whose hash is not in SHA256SUMS"; fi
grep -qi "checksum" "$work/tampered/init.log" || { cat "$work/tampered/init.log"; fail "init failed, but not on the checksum"; }
# The mirror lists the other zip's hash too (a version re-released): a user's lock file must refuse it.
osum=$(sha256sum "$other" | cut -d' ' -f1)
for host in registry.terraform.io registry.opentofu.org; do
  printf '{"archives":{"%s":{"url":"%s","hashes":["zh:%s"]}}}\n' "$platform" "$zip_name" "$osum" >"$mirror/$host/asm-modelmesh/asm/$version.json"
done
mkdir -p "$work/locked" && cp "$lock" "$work/locked/"
if init "$work/locked"; then fail "terraform init installed a zip its lock file has no hash for"; fi
grep -q "checksums previously recorded in the dependency lock file" "$work/locked/init.log" ||
  { cat "$work/locked/init.log"; fail "init failed, but not on the lock file's hashes"; }

echo "ok      $zip_name from a network mirror: lock file has its package hash $want; a zip other than SHA256SUMS lists, or than the lock file records, is refused"
