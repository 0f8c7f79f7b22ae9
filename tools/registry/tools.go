//go:build tools

// Package tools pins the CNCF distribution registry the real-node tests push their images to and
// the node's containerd pulls from (internal/testnode).
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
