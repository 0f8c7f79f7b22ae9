//go:build tools

// Package tools pins the node binaries of the real-node spike (issue 25): the kubelet and
// kube-proxy, at the control plane's Kubernetes version. A module of its own so that
// ../go.sum, the control plane's cache key, stays as it is.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
