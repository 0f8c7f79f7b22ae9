//go:build tools

// Package tools pins the developer tools run by the Makefile.
package tools

import _ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
