//go:build tools

// Package tools pins the OpenTofu CLI the acceptance suite also runs under.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
