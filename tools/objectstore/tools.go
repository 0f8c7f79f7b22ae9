//go:build tools

// Package tools pins versitygw, the S3-compatible server of internal/objectstore (Apache-2.0; MinIO
// is AGPL): its posix backend serves a folder and it checks SigV4 signatures as OSS/S3 do.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
