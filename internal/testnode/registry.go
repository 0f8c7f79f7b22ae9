package testnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// startRegistry runs the CNCF distribution registry (tools/registry, built by make clis) on
// 127.0.0.1:<free port>, storing under the node's folder, and waits until it answers.
func (n *Node) startRegistry(ctx context.Context, binary string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	n.registryHost = fmt.Sprintf("127.0.0.1:%d", port)
	// Configuration reference: docs/content/about/configuration.md of distribution v3.
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
  # Upload purging runs in the background on a timer; the registry lives for one test binary.
  maintenance:
    uploadpurging: {enabled: false}
http:
  addr: %s
`, filepath.Join(n.dir, "registry"), n.registryHost)
	path := filepath.Join(n.dir, "registry.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(binary, "serve", path)
	// distribution v3 exports traces through OpenTelemetry's autoexport, by default OTLP to
	// localhost:4318, where nothing of ours listens.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if n.registry, err = n.run("registry", cmd); err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if !n.registry.running() {
			return false, errors.New("registry exited")
		}
		resp, err := n.registryRequest(ctx, http.MethodGet, "/v2/", "", nil)
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet; the poll bounds the wait
		}
		return resp.status == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("registry did not answer: %w\nlog:\n%s", err, n.LogTail("registry"))
	}
	return nil
}

// writeHostsConfig writes containerd's registry host configuration (docs/hosts.md of containerd
// 1.6, read through the CRI's registry.config_path): the registry serves plain HTTP, which
// containerd only speaks to a host configured so (it would try HTTPS first).
func (n *Node) writeHostsConfig() (string, error) {
	certsDir := filepath.Join(n.dir, "certs.d")
	hostDir := filepath.Join(certsDir, n.registryHost)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		return "", err
	}
	hosts := fmt.Sprintf(`server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
`, n.registryHost)
	return certsDir, os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(hosts), 0o644)
}

// Image is the full reference of the image named name ("hello:1") in the node's registry.
func (n *Node) Image(name string) string {
	return n.registryHost + "/" + name
}

// RegistryLog is the registry's log: its access log shows each request containerd made.
func (n *Node) RegistryLog() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "registry.log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// push uploads the image's blobs and its manifest as the OCI distribution spec v1.1 describes
// (spec.md, "Pushing blobs": POST then PUT, a monolithic upload; "Pushing Manifests").
func (n *Node) push(ctx context.Context, img Image) error {
	blobs, manifest, err := img.build()
	if err != nil {
		return fmt.Errorf("build image %s: %w", img.Name, err)
	}
	repository, tag, ok := strings.Cut(img.Name, ":")
	if !ok {
		return fmt.Errorf("image name %q: want repository:tag", img.Name)
	}
	for _, b := range blobs {
		resp, err := n.registryCall(ctx, http.MethodPost, "/v2/"+repository+"/blobs/uploads/", "", nil, http.StatusAccepted)
		if err != nil {
			return fmt.Errorf("push %s: start upload: %w", img.Name, err)
		}
		// The upload's URL, with the registry's state in its query; the digest is added to it.
		location, err := url.Parse(resp.header.Get("Location"))
		if err != nil {
			return fmt.Errorf("push %s: upload location: %w", img.Name, err)
		}
		query := location.Query()
		query.Set("digest", b.Digest)
		location.RawQuery = query.Encode()
		if _, err := n.registryCall(ctx, http.MethodPut, location.RequestURI(), "application/octet-stream", b.content, http.StatusCreated); err != nil {
			return fmt.Errorf("push %s: blob %s: %w", img.Name, b.Digest, err)
		}
	}
	if _, err := n.registryCall(ctx, http.MethodPut, "/v2/"+repository+"/manifests/"+tag, mediaTypeManifest, manifest, http.StatusCreated); err != nil {
		return fmt.Errorf("push %s: manifest: %w", img.Name, err)
	}
	return nil
}

// answer is the registry's answer to a request, its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// registryCall makes a request and fails unless the registry answers want; the error carries the
// registry's error body (spec.md, "Error Codes").
func (n *Node) registryCall(ctx context.Context, method, path, contentType string, body []byte, want int) (answer, error) {
	resp, err := n.registryRequest(ctx, method, path, contentType, body)
	if err == nil && resp.status != want {
		err = fmt.Errorf("%s %s: %d %s: %s", method, path, resp.status, http.StatusText(resp.status), resp.body)
	}
	return resp, err
}

func (n *Node) registryRequest(ctx context.Context, method, path, contentType string, body []byte) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+n.registryHost+path, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	// Read within the request's timeout; error bodies are small JSON documents.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, err
}
