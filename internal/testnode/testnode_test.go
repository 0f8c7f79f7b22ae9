package testnode_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

const (
	pauseImage = "testnode.local/pause:1"
	helloImage = "testnode.local/hello:1"
)

// TestRealNodeRunsPod: a Pod bound to a real kubelet's Node runs in a real container (containerd,
// runc, a bridge network), reports Running with an IP, and its log is read through the apiserver
// (apiserver -> kubelet -> containerd's log file).
func TestRealNodeRunsPod(t *testing.T) {
	kubeletDir := acctest.RealNodeAssets(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir := t.TempDir()
	sleeper := filepath.Join(dir, "sleeper")
	build := exec.CommandContext(ctx, "go", "build", "-o", sleeper, "./testdata/sleeper")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sleeper: %v\n%s", err, out)
	}
	pauseTar, helloTar := filepath.Join(dir, "pause.tar"), filepath.Join(dir, "hello.tar")
	if err := testnode.WriteImage(pauseTar, pauseImage, sleeper, []string{"/pause"}); err != nil {
		t.Fatal(err)
	}
	if err := testnode.WriteImage(helloTar, helloImage, sleeper, []string{"/hello"}); err != nil {
		t.Fatal(err)
	}

	cluster, err := testcluster.Start(ctx, testcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	start := time.Now()
	node, err := testnode.Start(ctx, cluster, testnode.Options{KubeletDir: kubeletDir, SandboxImage: pauseImage, Images: []string{pauseTar, helloTar}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node %s Ready in %s", node.Name, time.Since(start).Round(time.Second))
	t.Cleanup(func() {
		if err := node.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})

	client, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	message := "hello from " + node.Name
	pods := client.CoreV1().Pods(metav1.NamespaceDefault)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.PodSpec{
			NodeName: node.Name,
			// No token volume in the spike: the kubelet would need TokenRequest and a projected volume.
			AutomountServiceAccountToken: new(false),
			Containers: []corev1.Container{{
				Name: "hello", Image: helloImage, ImagePullPolicy: corev1.PullNever,
				Args: strings.Fields(message),
			}},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err = pods.Get(ctx, "hello", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod not Running: %v\nstatus: %+v\nkubelet log:\n%s\ncontainerd log:\n%s", err, pod.Status, node.LogTail("kubelet"), node.LogTail("containerd"))
	}
	if pod.Status.PodIP == "" || !strings.HasPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://") {
		t.Errorf("pod IP %q, container ID %q: want an IP from the bridge network and a containerd container", pod.Status.PodIP, pod.Status.ContainerStatuses[0].ContainerID)
	}
	var logs string
	var logErr error
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		var b []byte
		b, logErr = pods.GetLogs("hello", &corev1.PodLogOptions{}).DoRaw(ctx)
		logs = string(b)
		return logErr == nil && strings.Contains(logs, message), nil
	})
	if err != nil {
		t.Fatalf("log %q does not say %q: %v (last error: %v)\nkubelet log:\n%s", logs, message, err, logErr, node.LogTail("kubelet"))
	}

	// Deleting the Pod: the kubelet stops the container (SIGTERM, which sleeper obeys) and confirms.
	if err := pods.Delete(ctx, "hello", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "hello", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod not deleted by the kubelet: %v\nkubelet log:\n%s", err, node.LogTail("kubelet"))
	}
}
