#!/usr/bin/env bash
# Regenerates go.mod for the pinned control-plane build (kube-apiserver and etcd, plus
# kube-controller-manager and kube-scheduler for the real-controller stack of issue 13). k8s.io/kubernetes replaces its
# staging modules with local paths, so `go install k8s.io/kubernetes/...@vX` is refused; this module
# requires it and points each staging module at its published v0 version instead.
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.0}
staging_version="v0.${K8S_VERSION#v1.}"
upstream_mod=$(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" |
  sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module github.com/asm-modelmesh/terraform-provider-asm/tools/k8s"
  echo
  echo "go 1.26.0"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes ${K8S_VERSION}"
  echo "	go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
  echo ")"
  echo
  echo "// Not served at ${staging_version} and not needed: sample-cli-plugin, sample-controller."
  echo "replace ("
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$upstream_mod" |
    awk '{print $1}' | grep -vE 'sample-cli-plugin|sample-controller' |
    while read -r m; do echo "	$m => $m ${staging_version}"; done
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

// Package tools pins the control-plane binaries the acceptance tests run.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
go mod tidy
