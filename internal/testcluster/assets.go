package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const (
	modulePath = "github.com/asm-modelmesh/terraform-provider-asm"
	buildTool  = "tools/k8s/build.sh"
)

// AssetsDir returns the folder holding kube-apiserver and etcd: $KUBEBUILDER_ASSETS when set, otherwise
// the folder printed by tools/k8s/build.sh, found by walking up from the working directory to the
// module root. build.sh answers from its cache in milliseconds; on a cold cache it builds both
// binaries first (about 11 minutes, progress on stderr).
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, checkAssets(dir)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is unset and %s cannot be located: %w", buildTool, err)
	}
	cmd := exec.Command("bash", filepath.Join(root, buildTool))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is unset and %s failed: %w", buildTool, err)
	}
	dir := strings.TrimSpace(string(out))
	return dir, checkAssets(dir)
}

// checkAssets fails early with the fix, instead of envtest's retries ending in "fork/exec: no such file".
func checkAssets(dir string) error {
	for _, name := range []string{"kube-apiserver", "etcd"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return fmt.Errorf("no executable %s in %q: run `make tools` (or %s) and set KUBEBUILDER_ASSETS to the folder it prints",
				name, dir, buildTool)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(gomod, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module " + modulePath + " above the working directory")
		}
		dir = parent
	}
}
