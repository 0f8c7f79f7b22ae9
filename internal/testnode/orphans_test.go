package testnode_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// orphanChildEnv makes the test binary, re-run as a child, start a node with a running Pod and
// die by SIGKILL, without Stop.
const orphanChildEnv = "TESTNODE_ORPHAN_CHILD"

// TestOrphanChild is the child side of TestSweepOrphans.
func TestOrphanChild(t *testing.T) {
	if os.Getenv(orphanChildEnv) == "" {
		t.Skip("run as a child by TestSweepOrphans")
	}
	ctx := t.Context()
	cluster, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	node := acctest.RealNode(t, cluster)
	client, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	pods := client.CoreV1().Pods(metav1.NamespaceDefault)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan"},
		Spec: corev1.PodSpec{
			NodeName: node.Name,
			// The pause image runs until it is stopped.
			Containers: []corev1.Container{{Name: "sleep", Image: node.Image(acctest.RealNodePauseImage)}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err = pods.Get(ctx, "orphan", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning, nil
	}); err != nil {
		t.Fatalf("pod not Running: %v", err)
	}
	fmt.Println("orphan-node:", node.Name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

// TestSweepOrphans: a test binary killed with a node running leaves containerd's shims and its
// container running, holding mounts, cgroups, the bridge and the Pod's network namespace; the next Start's sweep removes them all.
func TestSweepOrphans(t *testing.T) {
	_, _ = acctest.RealNodeAssets(t)
	child := exec.Command(os.Args[0], "-test.run=^TestOrphanChild$", "-test.timeout=5m")
	child.Env = append(os.Environ(), orphanChildEnv+"=1")
	var stderr strings.Builder
	child.Stderr = &stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var name string
	for scanner := bufio.NewScanner(stdout); scanner.Scan(); {
		if rest, ok := strings.CutPrefix(scanner.Text(), "orphan-node: "); ok {
			name = rest
		}
	}
	_ = child.Wait() // killed: what it left is what counts
	if name == "" {
		t.Fatalf("the child started no node; stderr:\n%s", stderr.String())
	}
	dir := filepath.Join(os.TempDir(), name)
	bridge, err := os.ReadFile(filepath.Join(dir, "bridge"))
	if err != nil {
		t.Fatal(err)
	}
	// Without orphans there is nothing to sweep, and the test would prove nothing.
	if shims := processesNaming(dir); len(shims) == 0 {
		t.Fatalf("no process of node %s outlived the child: nothing to sweep", name)
	}
	netns, err := testnode.BridgeNetNamespaces(string(bridge))
	if err != nil || len(netns) == 0 {
		t.Fatalf("the orphaned Pod's network namespace on bridge %s: %v, %v", bridge, netns, err)
	}

	if err := testnode.SweepOrphans(); err != nil {
		t.Fatal(err)
	}
	if left := processesNaming(dir); len(left) > 0 {
		t.Errorf("processes of node %s left: %v", name, left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("folder %s left (stat: %v)", dir, err)
	}
	if _, err := net.InterfaceByName(string(bridge)); err == nil {
		t.Errorf("bridge %s left", bridge)
	}
	for _, ns := range netns {
		if _, err := os.Stat(filepath.Join("/var/run/netns", ns)); !os.IsNotExist(err) {
			t.Errorf("network namespace %s left (stat: %v)", ns, err)
		}
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if len(cgroups) > 0 {
		t.Errorf("cgroups left: %v", cgroups)
	}
}

// processesNaming lists the command lines that name dir.
func processesNaming(dir string) []string {
	var found []string
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if cmdline := strings.ReplaceAll(string(b), "\x00", " "); err == nil && strings.Contains(cmdline, dir+"/") {
			found = append(found, cmdline)
		}
	}
	return found
}
