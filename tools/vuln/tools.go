//go:build tools

// Package vuln pins govulncheck and the Go vulnerability database it reads, so that
// scripts/govulncheck.sh can run offline from the Go module proxy alone.
package vuln

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	// indexdb turns the OSV files shipped in the x/vulndb module into the v1 database layout.
	_ "golang.org/x/vulndb/cmd/indexdb"
)
