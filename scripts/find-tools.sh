#!/usr/bin/env bash
# Chooses the Terraform CLI and the control-plane binaries for make demo, make sandbox and the
# newest-terraform leg of make test, taking what the machine already has before building anything.
# Each choice prints one line on stderr saying what it uses and why, and the path on stdout:
#
#   scripts/find-tools.sh terraform         $TERRAFORM, else the first terraform >= 1.5 on PATH, else the
#                                           first tofu on PATH, else terraform 1.5.7 built once (the Makefile's)
#   scripts/find-tools.sh control-plane     $KUBEBUILDER_ASSETS, else setup-envtest's store, when either holds
#                                           every binary tools/k8s/build.sh --list names at tools/k8s's
#                                           Kubernetes version; else tools/k8s/build.sh (built once, cached)
#   scripts/find-tools.sh newest-terraform  the newest terraform on PATH when it is another version than the
#                                           pinned one; nothing (and exit 0) when there is none
#
# Sourced, it defines find_terraform, find_control_plane and newest_terraform, which do the same.

_ft_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The pinned terraform (the oldest supported, which make test runs) is the Makefile's TF_VERSION; its
# minor series is the oldest a CLI found on the machine may be.
_ft_pinned=$(sed -n 's/^TF_VERSION *:= *v//p' "$_ft_root/GNUmakefile")
_ft_oldest=${_ft_pinned%.*}

_ft_say() { printf '%s\n' "$*" >&2; }

# _ft_version_ge A B: version A >= version B.
_ft_version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# _ft_cli_id EXE prints "Terraform v1.11.4" or "OpenTofu v1.12.6", or fails for anything else. An
# empty CLI config keeps a TF_CLI_CONFIG_FILE that names a missing file from failing tofu; no
# checkpoint call, which would wait on the network.
_ft_cli_id() {
  TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 "$1" version 2>/dev/null |
    sed -n '1s/^\(Terraform\|OpenTofu\) v\([0-9][0-9.]*\).*/\1 v\2/p' | grep .
}

find_terraform() {
  local exe id name skipped=""
  if [ -n "${TERRAFORM:-}" ]; then
    exe=$(type -P -- "$TERRAFORM") || { _ft_say "TERRAFORM=$TERRAFORM: no such executable"; return 1; }
    id=$(_ft_cli_id "$exe") || { _ft_say "TERRAFORM=$TERRAFORM: '$exe version' names neither Terraform nor OpenTofu"; return 1; }
    _ft_say "Terraform CLI: $exe ($id), because TERRAFORM names it"
    _ft_version_ge "${id##* v}" "$_ft_oldest" ||
      _ft_say "  (older than $_ft_oldest, the oldest version this project tests: expect failures)"
    echo "$exe"
    return
  fi
  for name in terraform tofu; do
    while IFS= read -r exe; do
      if ! id=$(_ft_cli_id "$exe"); then
        skipped+="; skipped $exe (no version)"
      elif _ft_version_ge "${id##* v}" "$_ft_oldest"; then
        _ft_say "Terraform CLI: $exe ($id), the first $name >= $_ft_oldest on PATH (TERRAFORM is unset${skipped})"
        echo "$exe"
        return
      else
        skipped+="; skipped $exe ($id, older than $_ft_oldest)"
      fi
    done < <(type -aP "$name")
  done
  local cache=${TFASM_CACHE:-$HOME/.cache/terraform-provider-asm}
  exe=$cache/terraform-v$_ft_pinned/terraform
  if [ -x "$exe" ]; then
    _ft_say "Terraform CLI: $exe (Terraform v$_ft_pinned, built earlier), because TERRAFORM is unset and PATH has no terraform >= $_ft_oldest or tofu${skipped}"
  else
    _ft_say "Terraform CLI: $exe (Terraform v$_ft_pinned, building it now from its Go module, once), because TERRAFORM is unset and PATH has no terraform >= $_ft_oldest or tofu${skipped}"
    make -s -C "$_ft_root" CACHE="$cache" "$exe" >&2
  fi
  echo "$exe"
}

# _ft_assets_problem DIR K8S_VERSION NEEDED...: says what keeps DIR from serving the stack; silent when
# DIR holds every needed binary and each Kubernetes one reports K8S_VERSION (etcd's own version is
# not checked: the apiserver works with any etcd 3.x).
_ft_assets_problem() {
  local dir=$1 k8s=$2 b v missing="" wrong=""
  shift 2
  for b in "$@"; do
    if [ ! -f "$dir/$b" ] || [ ! -x "$dir/$b" ]; then
      missing+=" $b"
    elif [[ $b == kube-* ]]; then
      v=$("$dir/$b" --version 2>/dev/null | sed -n 's/^Kubernetes //p')
      [ "$v" = "$k8s" ] || wrong+=" $b ${v:-of unknown version}"
    fi
  done
  [ -z "$missing" ] || printf 'has no%s; ' "$missing"
  [ -z "$wrong" ] || printf 'has%s (not %s); ' "$wrong" "$k8s"
}

# setup-envtest's store: <data dir>/kubebuilder-envtest/k8s/<version without v>-<os>-<arch>, data dir
# ${XDG_DATA_HOME:-~/.local/share}, on macOS ~/Library/Application Support/io.kubebuilder.envtest
# (controller-runtime v0.25.2 pkg/envtest/binaries.go: SetupEnvtestDefaultBinaryAssetsDirectory and
# the download folder in downloadBinaryAssets).
_ft_envtest_store() {
  local k8s=$1 goos goarch
  goos=$(go env GOOS) goarch=$(go env GOARCH)
  if [ "$goos" = darwin ]; then
    echo "$HOME/Library/Application Support/io.kubebuilder.envtest/k8s/${k8s#v}-$goos-$goarch"
  else
    echo "${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${k8s#v}-$goos-$goarch"
  fi
}

find_control_plane() {
  local k8s needed problem store why=""
  k8s=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$_ft_root/tools/k8s/go.mod")
  read -r -a needed < <("$_ft_root/tools/k8s/build.sh" --list)
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
    problem=$(_ft_assets_problem "$KUBEBUILDER_ASSETS" "$k8s" "${needed[@]}")
    if [ -z "$problem" ]; then
      _ft_say "Control plane: $KUBEBUILDER_ASSETS (Kubernetes $k8s), because KUBEBUILDER_ASSETS names it"
      echo "$KUBEBUILDER_ASSETS"
      return
    fi
    why+="KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS $problem"
  else
    why+="KUBEBUILDER_ASSETS is unset; "
  fi
  store=$(_ft_envtest_store "$k8s")
  if [ -d "$store" ]; then
    problem=$(_ft_assets_problem "$store" "$k8s" "${needed[@]}")
    if [ -z "$problem" ]; then
      _ft_say "Control plane: $store (Kubernetes $k8s), setup-envtest's store (${why%; })"
      echo "$store"
      return
    fi
    why+="setup-envtest's $store $problem"
  else
    why+="setup-envtest's store has no $k8s ($store)"
  fi
  _ft_say "Control plane: tools/k8s/build.sh (${needed[*]}, Kubernetes $k8s, built from tools/k8s's pinned modules on first use, then cached), because ${why%; }"
  "$_ft_root/tools/k8s/build.sh"
}

newest_terraform() {
  local exe id best="" best_id=""
  while IFS= read -r exe; do
    id=$(_ft_cli_id "$exe") || continue
    if [ -z "$best" ] || ! _ft_version_ge "${best_id##* v}" "${id##* v}"; then
      best=$exe best_id=$id
    fi
  done < <(type -aP terraform)
  if [ -z "$best" ]; then
    _ft_say "Newest terraform: none on PATH; the pinned $_ft_pinned has run: leg skipped"
  elif [ "${best_id##* v}" = "$_ft_pinned" ]; then
    _ft_say "Newest terraform: $best ($best_id) is the pinned version, which has run: leg skipped"
  elif ! _ft_version_ge "${best_id##* v}" "$_ft_oldest"; then
    _ft_say "Newest terraform: $best ($best_id) is older than $_ft_oldest, the oldest this project supports: leg skipped"
  else
    _ft_say "Newest terraform: $best ($best_id), the newest terraform on PATH, besides the pinned $_ft_pinned"
    echo "$best"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case ${1:-} in
    terraform) find_terraform ;;
    control-plane) find_control_plane ;;
    newest-terraform) newest_terraform ;;
    *) echo "usage: $0 terraform|control-plane|newest-terraform" >&2; exit 2 ;;
  esac
fi
