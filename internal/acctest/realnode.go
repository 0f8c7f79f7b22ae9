package acctest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// RealNodePauseImage is a RealNode's sandbox image; run as a container, it runs until stopped.
const RealNodePauseImage = "testnode.local/pause:1"

// RealNode starts a real kubelet node (internal/testnode) on cluster for one test and stops it at
// the test's end, for what only a real kubelet does (mounting volumes, Events).
func RealNode(t *testing.T, cluster *testcluster.Cluster) *testnode.Node {
	t.Helper()
	kubeletDir := RealNodeAssets(t)
	root := repositoryRoot()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	sleeper, pause := filepath.Join(dir, "sleeper"), filepath.Join(dir, "pause.tar")
	build := exec.CommandContext(ctx, "go", "build", "-o", sleeper, "./internal/testnode/testdata/sleeper")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the pause image's binary: %v\n%s", err, out)
	}
	if err := testnode.WriteImage(pause, RealNodePauseImage, sleeper, []string{"/pause"}); err != nil {
		t.Fatal(err)
	}
	node, err := testnode.Start(ctx, cluster, testnode.Options{KubeletDir: kubeletDir, SandboxImage: RealNodePauseImage, Images: []string{pause}})
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

// RealNodeAssets returns the kubelet's folder, or skips the test on a machine that cannot run a
// real node, unless NODE_ASSETS is set (make sets it): then the test fails, naming what the
// machine lacks.
func RealNodeAssets(t *testing.T) string {
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
	if missing := testnode.Missing(kubeletDir); missing != "" {
		if required {
			t.Fatalf("this machine cannot run a real node: missing %s", missing)
		}
		t.Skipf("no real node here (set NODE_ASSETS to require one): missing %s", missing)
	}
	return kubeletDir
}

func repositoryRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}
