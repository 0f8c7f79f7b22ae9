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
	// modelMeshBuildTool builds the ModelMesh Serving controller and KWOK (see its header).
	modelMeshBuildTool = "tools/modelmesh/build.sh"
	// ModelMeshAssetsEnv names the folder printed by tools/modelmesh/build.sh, like KUBEBUILDER_ASSETS
	// for tools/k8s/build.sh.
	ModelMeshAssetsEnv = "MODELMESH_ASSETS"
)

// AssetsDir returns the folder holding the control-plane binaries: $KUBEBUILDER_ASSETS when set,
// otherwise the folder printed by tools/k8s/build.sh, found by walking up from the working directory
// to the module root. build.sh answers from its cache in milliseconds; on a cold cache it builds
// the binaries first (about 15 minutes, progress on stderr).
func AssetsDir() (string, error) {
	dir, err := toolDir("KUBEBUILDER_ASSETS", buildTool)
	if err != nil {
		return "", err
	}
	return dir, checkAssets(dir)
}

// ModelMeshAssetsDir returns the folder holding the ModelMesh Serving controller, KWOK and the files
// they read: $MODELMESH_ASSETS when set, otherwise the folder printed by tools/modelmesh/build.sh
// (cached like AssetsDir; a cold build takes a few minutes).
func ModelMeshAssetsDir() (string, error) {
	dir, err := toolDir(ModelMeshAssetsEnv, modelMeshBuildTool)
	if err != nil {
		return "", err
	}
	return dir, checkModelMeshAssets(dir)
}

func toolDir(env, script string) (string, error) {
	if dir := os.Getenv(env); dir != "" {
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%s is unset and %s cannot be located: %w", env, script, err)
	}
	cmd := exec.Command("bash", filepath.Join(root, script))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s is unset and %s failed: %w", env, script, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// checkAssets fails early with the fix, instead of envtest's retries ending in "fork/exec: no such file".
func checkAssets(dir string) error {
	return checkExecutables(dir, buildTool, "KUBEBUILDER_ASSETS", "kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")
}

func checkModelMeshAssets(dir string) error {
	if err := checkExecutables(dir, modelMeshBuildTool, ModelMeshAssetsEnv, "modelmesh-controller", "kwok"); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, crdDir)); err != nil {
		return fmt.Errorf("no KServe CRDs in %q: rebuild with %s: %w", dir, modelMeshBuildTool, err)
	}
	return nil
}

func checkExecutables(dir, script, env string, names ...string) error {
	for _, name := range names {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return fmt.Errorf("no executable %s in %q: run `make tools` (or %s) and set %s to the folder it prints",
				name, dir, script, env)
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
