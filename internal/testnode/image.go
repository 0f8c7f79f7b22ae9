package testnode

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Media types of the OCI image-spec v1.1 (manifest.md, config.md, layer.md).
const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// Image is an image the harness builds from a static binary and pushes to the node's registry: one
// layer whose only file is Binary at Path, run as entrypoint. No base image to pull.
type Image struct {
	// Name is repository:tag in the node's registry ("pause:1"); Node.Image gives the full reference.
	Name       string
	Binary     string
	Entrypoint []string
	// Path is where Binary is in the image; "" is Entrypoint[0]. An image without an entrypoint,
	// run by its Pods' command, sets Path only.
	Path string
	// User is the config's user (a Dockerfile's USER); "" is root.
	User string
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int    `json:"size"`
}

// blob is content the manifest references, with its descriptor.
type blob struct {
	descriptor
	content []byte
}

func newBlob(mediaType string, content []byte) blob {
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(content))
	return blob{descriptor{MediaType: mediaType, Digest: digest, Size: len(content)}, content}
}

// build returns the image's blobs (layer, config) and its manifest.
func (img Image) build() ([]blob, []byte, error) {
	program, err := os.ReadFile(img.Binary)
	if err != nil {
		return nil, nil, err
	}
	path := img.Path
	if path == "" {
		path = img.Entrypoint[0]
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	// Its folders first, as a built image's layer holds them (/opt/app/ of the adapter's image).
	for _, dir := range parents(path[1:]) {
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Mode: 0o755, ModTime: time.Unix(0, 0), Typeflag: tar.TypeDir}); err != nil {
			return nil, nil, err
		}
	}
	// A fixed time, so that the digest only changes with the binary.
	hdr := &tar.Header{Name: path[1:], Mode: 0o755, Size: int64(len(program)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, nil, err
	}
	if _, err := tw.Write(program); err != nil {
		return nil, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	layer := newBlob(mediaTypeLayer, tarball.Bytes())
	// The platform the binary was built for (go build without GOARCH): containerd matches a manifest
	// without an index by its config's os and architecture.
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Entrypoint": img.Entrypoint, "User": img.User},
		// The layer is not compressed, so its diff ID is its digest.
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layer.Digest}},
	})
	if err != nil {
		return nil, nil, err
	}
	configBlob := newBlob(mediaTypeConfig, config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeManifest,
		"config": configBlob.descriptor, "layers": []descriptor{layer.descriptor},
	})
	return []blob{layer, configBlob}, manifest, err
}

// parents lists the folders above a relative path, outermost first: "opt/app/x" gives opt, opt/app.
func parents(path string) []string {
	var dirs []string
	for dir := filepath.Dir(path); dir != "."; dir = filepath.Dir(dir) {
		dirs = append([]string{dir}, dirs...)
	}
	return dirs
}
