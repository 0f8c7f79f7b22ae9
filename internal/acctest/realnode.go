package acctest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// RealNodePauseImage is a RealNode's sandbox image in its registry (Node.Image gives the
// reference); run as a container, it runs until stopped.
const RealNodePauseImage = "pause:1"

// RealNode starts a real kubelet node (internal/testnode) on cluster for one test and stops it at
// the test's end, for what only a real kubelet does (mounting volumes, pulling images, Events).
func RealNode(t *testing.T, cluster *testcluster.Cluster) *testnode.Node {
	t.Helper()
	kubeletDir, registryBinary := RealNodeAssets(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	sleeper := filepath.Join(t.TempDir(), "sleeper")
	build := exec.CommandContext(ctx, "go", "build", "-o", sleeper, "./internal/testnode/testdata/sleeper")
	build.Dir, build.Env = repositoryRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the pause image's binary: %v\n%s", err, out)
	}
	node, err := testnode.Start(ctx, cluster, testnode.Options{
		KubeletDir: kubeletDir, RegistryBinary: registryBinary, SandboxImage: RealNodePauseImage,
		Images: []testnode.Image{{Name: RealNodePauseImage, Binary: sleeper, Entrypoint: []string{"/pause"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := node.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return node
}

// RealNodeAssets returns the kubelet's folder and the registry binary, or skips the test when TF_ACC
// is unset or the machine cannot run a real node. With NODE_ASSETS set (make sets it, and
// REGISTRY_BINARY) a real node is required: the test fails, naming what the machine lacks. Unset,
// they are looked for where tools/k8s/build-node.sh and make clis put them.
func RealNodeAssets(t *testing.T) (kubeletDir, registryBinary string) {
	t.Helper()
	requireStack(t)
	kubeletDir, required := os.LookupEnv("NODE_ASSETS")
	if !required {
		out, err := exec.Command("bash", filepath.Join(repositoryRoot(), "tools/k8s/build-node.sh"), "--entry").Output()
		if err != nil {
			t.Skipf("tools/k8s/build-node.sh --entry: %v", err)
		}
		kubeletDir = strings.TrimSpace(string(out))
	}
	registryBinary = os.Getenv("REGISTRY_BINARY")
	if registryBinary == "" {
		registryBinary = defaultRegistryBinary(t)
	}
	if missing := testnode.Missing(kubeletDir, registryBinary); missing != "" {
		if required {
			t.Fatalf("this machine cannot run a real node: missing %s", missing)
		}
		t.Skipf("no real node here (set NODE_ASSETS to require one): missing %s", missing)
	}
	return kubeletDir, registryBinary
}

// defaultRegistryBinary is the GNUmakefile's REGISTRY: <cache>/registry-<version>/registry, the
// version that tools/registry/go.mod requires, the cache TFASM_CACHE (make exports it) or make's
// default.
func defaultRegistryBinary(t *testing.T) string {
	t.Helper()
	gomod, err := os.ReadFile(filepath.Join(repositoryRoot(), "tools/registry/go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^require github\.com/distribution/distribution/v3 (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("tools/registry/go.mod: no require line of github.com/distribution/distribution/v3")
	}
	cache := os.Getenv("TFASM_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "terraform-provider-asm")
	}
	return filepath.Join(cache, "registry-"+string(m[1]), "registry")
}

func repositoryRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}
