//go:build tools

// Package tools pins the ModelMesh Serving controller the test stack runs (its main package is the
// module root).
package tools

import (
	_ "github.com/kserve/modelmesh-serving"
)
