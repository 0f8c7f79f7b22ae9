//go:build tools

// Package tools pins KWOK's kwok controller, which turns the test stack's Pods into fake running
// ones on fake Nodes. Its own module: it needs newer Kubernetes libraries than ModelMesh Serving.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
