package testnode

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"
)

// Media types and annotations of the OCI image-spec v1.1 (image-layout.md, manifest.md,
// config.md, annotations.md) and containerd's image-name annotation, which `ctr images import`
// reads to name the image (containerd pkg/images/archive importer, images.AnnotationImageName).
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
	annotationName    = "io.containerd.image.name"
	annotationRefName = "org.opencontainers.image.ref.name"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// WriteImage writes, at path, an OCI image layout tarball of a one-layer image named ref (a full
// reference such as testnode.local/pause:1) whose only file is the static binary at
// /<name of binary> run as entrypoint: no base image to pull. `ctr images import` reads it.
func WriteImage(path, ref, binary string, entrypoint []string) error {
	program, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	var layer bytes.Buffer
	if err := writeTar(&layer, map[string][]byte{entrypoint[0][1:]: program}, 0o755); err != nil {
		return err
	}
	blobs := map[string][]byte{}
	add := func(mediaType string, content []byte) descriptor {
		digest := fmt.Sprintf("sha256:%x", sha256.Sum256(content))
		blobs["blobs/sha256/"+digest[len("sha256:"):]] = content
		return descriptor{MediaType: mediaType, Digest: digest, Size: len(content)}
	}
	layerDesc := add(mediaTypeLayer, layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": entrypoint},
		// The layer is not compressed, so its diff ID is its digest.
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeManifest,
		"config": add(mediaTypeConfig, config), "layers": []descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	manifestDesc := add(mediaTypeManifest, manifest)
	manifestDesc.Annotations = map[string]string{annotationName: ref, annotationRefName: ref}
	// Without a platform, ctr's default platform filter may skip the manifest.
	manifestDesc.Platform = &platform{Architecture: "amd64", OS: "linux"}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaTypeIndex, "manifests": []descriptor{manifestDesc}})
	if err != nil {
		return err
	}
	blobs["index.json"] = index
	blobs["oci-layout"] = []byte(`{"imageLayoutVersion":"1.0.0"}`)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeTar(f, blobs, 0o644); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// writeTar writes files in a fixed order (tar of sorted names) so that digests are stable.
func writeTar(w io.Writer, files map[string][]byte, mode int64) error {
	tw := tar.NewWriter(w)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(files[name])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return err
		}
	}
	return tw.Close()
}
