package testnode_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// The images the harness builds and pushes to the node's registry: pause and hello run
// testdata/sleeper; mlserver and the runtime adapter are those of runtimepod_test.go.
const (
	pauseImage = "pause:1"
	helloImage = "hello:1"
)

// The one cluster and node of this test binary, started by the first test that needs them
// (startNode) and stopped by TestMain: each test's Pods run side by side on it.
var shared struct {
	once    sync.Once
	err     error
	dir     string
	cluster *testcluster.Cluster
	node    *testnode.Node
	client  kubernetes.Interface
}

func TestMain(m *testing.M) {
	code := m.Run()
	var errs []error
	if shared.node != nil {
		errs = append(errs, shared.node.Stop(context.Background()))
	}
	if shared.cluster != nil {
		errs = append(errs, shared.cluster.Stop())
	}
	if shared.dir != "" {
		errs = append(errs, os.RemoveAll(shared.dir))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the node and the cluster:", err)
		code = 1
	}
	os.Exit(code)
}

// startNode returns the test's context (5 minutes), the shared node and a client of its cluster,
// starting them on first use, or skips (see acctest.RealNodeAssets).
func startNode(t *testing.T) (context.Context, *testnode.Node, kubernetes.Interface) {
	t.Helper()
	kubeletDir, registryBinary := acctest.RealNodeAssets(t)
	shared.once.Do(func() { shared.err = startShared(kubeletDir, registryBinary, t) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx, shared.node, shared.client
}

func startShared(kubeletDir, registryBinary string, t *testing.T) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	if shared.dir, err = os.MkdirTemp("", "testnode-images-"); err != nil {
		return err
	}
	// Static, so that each can be its image's only file.
	sleeper, mlserver, modelMesh := filepath.Join(shared.dir, "sleeper"), filepath.Join(shared.dir, "mlserver"), filepath.Join(shared.dir, "model-mesh")
	for binary, pkg := range map[string]string{
		sleeper: "./testdata/sleeper", mlserver: "../modelserver/cmd/mlserver", modelMesh: "../mmeshfake/cmd/model-mesh",
	} {
		build := exec.CommandContext(ctx, "go", "build", "-o", binary, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w\n%s", pkg, err, out)
		}
	}
	if shared.cluster, err = testcluster.Start(ctx, testcluster.Options{}); err != nil {
		return err
	}
	if shared.client, err = kubernetes.NewForConfig(shared.cluster.RESTConfig()); err != nil {
		return err
	}
	images := []testnode.Image{
		// Bare, sleeper only holds the Pod's namespaces, as registry.k8s.io/pause does.
		{Name: pauseImage, Binary: sleeper, Entrypoint: []string{"/pause"}},
		{Name: helloImage, Binary: sleeper, Entrypoint: []string{"/hello"}},
		// MLServer's image runs as USER 1000 (SeldonIO/MLServer's Dockerfile: useradd -u 1000 mlserver);
		// it reads the models the adapter (USER 2000) writes into the shared emptyDir.
		{Name: mlserverImage, Binary: mlserver, Entrypoint: []string{"/mlserver"}, User: "1000"},
		// model-mesh's image runs start.sh in /opt/kserve/mmesh as USER 2000 (kserve/modelmesh
		// v0.12.0 Dockerfile); the stand-in is that command here.
		{Name: modelMeshImage, Binary: modelMesh, Entrypoint: []string{"/opt/kserve/mmesh/start.sh"}, User: "2000"},
	}
	// The adapter's image when its binary is there; TestRealNodeRuntimePod requires it (runtimeAsset).
	if adapter := os.Getenv(puller.MLServerAdapterEnv); adapter != "" {
		if _, err := os.Stat(adapter); err == nil {
			images = append(images, adapterImage(adapter))
		}
	}
	start := time.Now()
	shared.node, err = testnode.Start(ctx, shared.cluster, testnode.Options{
		KubeletDir: kubeletDir, RegistryBinary: registryBinary, SandboxImage: pauseImage, Images: images,
	})
	if err != nil {
		return err
	}
	t.Logf("registry up, images pushed, node %s Ready in %s", shared.node.Name, time.Since(start).Round(time.Second))
	return nil
}

// TestRealNodeRunsPod: a Pod bound to a real kubelet's Node runs in a real container (containerd,
// runc, a bridge network) of an image the kubelet pulled from the node's registry (default pull
// policy), reports Running with an IP, and its log is read through the apiserver (apiserver ->
// kubelet -> containerd's log file).
func TestRealNodeRunsPod(t *testing.T) {
	ctx, node, client := startNode(t)

	message := "hello from " + node.Name
	pod := createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		NodeName:   node.Name,
		Containers: []corev1.Container{{Name: "hello", Image: node.Image(helloImage), Args: strings.Fields(message)}},
	})
	if got := pod.Spec.Containers[0].ImagePullPolicy; got != corev1.PullIfNotPresent {
		t.Fatalf("image pull policy %s: want the default for a tagged image, IfNotPresent", got)
	}
	pod = waitPod(ctx, t, client, node, pod, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if pod.Status.PodIP == "" || !strings.HasPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://") {
		t.Errorf("pod IP %q, container ID %q: want an IP from the bridge network and a containerd container", pod.Status.PodIP, pod.Status.ContainerStatuses[0].ContainerID)
	}
	// The kubelet pulled the image (it was nowhere else), and containerd asked the registry for it
	// and for the sandbox image.
	waitEvent(ctx, t, client, node, pod, "Pulled", `Successfully pulled image "`+node.Image(helloImage)+`"`)
	for _, image := range []string{helloImage, pauseImage} {
		if !pulled(node, image) {
			t.Errorf("the registry's log shows no pull of %s:\n%s", image, node.RegistryLog())
		}
	}

	pods := client.CoreV1().Pods(pod.Namespace)
	var logs string
	var logErr error
	err := wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		var b []byte
		b, logErr = pods.GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		logs = string(b)
		return logErr == nil && strings.Contains(logs, message), nil
	})
	if err != nil {
		t.Fatalf("log %q does not say %q: %v (last error: %v)\nkubelet log:\n%s", logs, message, err, logErr, node.LogTail("kubelet"))
	}

	// Deleting the Pod: the kubelet stops the container (SIGTERM, which sleeper obeys) and confirms.
	if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod not deleted by the kubelet: %v\nkubelet log:\n%s", err, node.LogTail("kubelet"))
	}
}

// TestRealNodeImageNotInRegistry: an image the registry does not have fails to pull for real:
// the container waits with ErrImagePull, then ImagePullBackOff, and the kubelet's Events name the
// image (the runtime Pods' "image never pulls" row of the fault matrix).
func TestRealNodeImageNotInRegistry(t *testing.T) {
	ctx, node, client := startNode(t)

	image := node.Image("missing:1")
	pod := createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		NodeName: node.Name, Containers: []corev1.Container{{Name: "missing", Image: image}},
	})
	seen := map[string]bool{}
	pod = waitPod(ctx, t, client, node, pod, "ImagePullBackOff", func(p *corev1.Pod) bool {
		if w := waiting(p); w != nil {
			seen[w.Reason] = true
		}
		return seen["ImagePullBackOff"]
	})
	// ErrImagePull lasts until the kubelet's next sync of the Pod: a loaded machine may poll past it,
	// and then the kubelet's Event for it shows it came first.
	if !seen["ErrImagePull"] {
		waitEvent(ctx, t, client, node, pod, "Failed", "Error: ErrImagePull")
	}
	if w := waiting(pod); !strings.Contains(w.Message, image) {
		t.Errorf("waiting message %q does not name %s", w.Message, image)
	}
	t.Logf("container waiting %s: %s", waiting(pod).Reason, waiting(pod).Message)
	if pod.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", pod.Status.Phase)
	}
	// containerd 1.6 says "failed to resolve reference ...: not found" for the registry's 404.
	failed := waitEvent(ctx, t, client, node, pod, "Failed", `Failed to pull image "`+image+`"`)
	if !strings.Contains(failed.Message, "not found") {
		t.Errorf("Failed event %q: want the registry's not found", failed.Message)
	}
	backOff := waitEvent(ctx, t, client, node, pod, "BackOff", `Back-off pulling image "`+image+`"`)
	t.Logf("kubelet Events: Failed: %s; BackOff: %s", failed.Message, backOff.Message)
	if !pulled(node, "missing:1") {
		t.Errorf("the registry's log shows no request for missing:1:\n%s", node.RegistryLog())
	}
}

// TestRealNodeCrashLoop: a container that exits non-zero is restarted by the kubelet with a
// back-off: CrashLoopBackOff, a restart count, the last exit code (the crash loop row of the fault
// matrix).
func TestRealNodeCrashLoop(t *testing.T) {
	ctx, node, client := startNode(t)

	pod := createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		NodeName: node.Name,
		Containers: []corev1.Container{{
			Name: "crash", Image: node.Image(helloImage), Args: []string{"exiting"},
			Env: []corev1.EnvVar{{Name: "SLEEPER_EXIT", Value: "3"}},
		}},
	})
	pod = waitPod(ctx, t, client, node, pod, "CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	status := pod.Status.ContainerStatuses[0]
	if status.RestartCount < 1 {
		t.Errorf("restart count %d, want > 0", status.RestartCount)
	}
	if last := status.LastTerminationState.Terminated; last == nil || last.ExitCode != 3 || last.Reason != "Error" {
		t.Errorf("last state %+v: want terminated, reason Error, exit code 3", status.LastTerminationState)
	}
	ev := waitEvent(ctx, t, client, node, pod, "BackOff", "Back-off restarting failed container crash")
	t.Logf("restart count %d, last state %+v; kubelet Event BackOff: %s", status.RestartCount, status.LastTerminationState.Terminated, ev.Message)
}

// TestRealNodeFailsAtStart: a container whose command does not exist in its image fails at start
// (runc cannot exec it): the kubelet reports the runtime's error and restarts it with a back-off
// (the "fails at start" row of the fault matrix).
func TestRealNodeFailsAtStart(t *testing.T) {
	ctx, node, client := startNode(t)

	pod := createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		NodeName:   node.Name,
		Containers: []corev1.Container{{Name: "nostart", Image: node.Image(helloImage), Command: []string{"/serve"}}},
	})
	pod = waitPod(ctx, t, client, node, pod, "restarted after StartError", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) > 0 && s[0].LastTerminationState.Terminated != nil
	})
	last := pod.Status.ContainerStatuses[0].LastTerminationState.Terminated
	// runc's exec failure, as containerd 1.6 passes it on, with exit code 128 (kubelet's StartError).
	if last.Reason != "StartError" || last.ExitCode != 128 || !strings.Contains(last.Message, `"/serve"`) {
		t.Errorf("last state %+v: want StartError, exit code 128, a message naming /serve", last)
	}
	ev := waitEvent(ctx, t, client, node, pod, "Failed", "/serve")
	t.Logf("last state %s (exit %d): %s; kubelet Event Failed: %s", last.Reason, last.ExitCode, last.Message, ev.Message)
}

// TestRealNodeUnschedulable: a Pod that asks for more CPU than the real Node has is left Pending by
// the scheduler, which reads the kubelet's reported capacity (the "unschedulable" row of the fault
// matrix).
func TestRealNodeUnschedulable(t *testing.T) {
	ctx, node, client := startNode(t)

	pod := createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		// Only this Node: the cluster's KWOK Nodes report what capacity they are given.
		NodeSelector: map[string]string{corev1.LabelHostname: node.Name},
		Containers: []corev1.Container{{
			Name: "big", Image: node.Image(helloImage),
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}},
		}},
	})
	pod = waitPod(ctx, t, client, node, pod, "Unschedulable", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
			}
		}
		return false
	})
	var message string
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			message = c.Message
		}
	}
	if !strings.Contains(message, "1 Insufficient cpu") || pod.Spec.NodeName != "" {
		n, err := client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("PodScheduled %q, node %q: want unscheduled for 1 Insufficient cpu (the Node's taints: %v, conditions: %v)", message, pod.Spec.NodeName, n.Spec.Taints, n.Status.Conditions)
	}
	t.Logf("PodScheduled=False Unschedulable: %s", message)
}

// TestRealNodeSecretVolumeMissing: a runtime Pod in a namespace without the storage-config Secret
// (ModelMesh mounts it into every runtime Pod: modelmesh-serving controllers/modelmesh/puller.go)
// never starts: it stays ContainerCreating and the kubelet reports FailedMount.
func TestRealNodeSecretVolumeMissing(t *testing.T) {
	ctx, node, client := startNode(t)

	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "no-storage-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	pod := createPod(ctx, t, client, ns.Name, corev1.PodSpec{
		NodeName: node.Name,
		Containers: []corev1.Container{{
			Name: "runtime", Image: node.Image(helloImage),
			VolumeMounts: []corev1.VolumeMount{{Name: "storage-config", MountPath: "/storage-config", ReadOnly: true}},
		}},
		Volumes: []corev1.Volume{{Name: "storage-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "storage-config"}}}},
	})
	ev := waitEvent(ctx, t, client, node, pod, "FailedMount", `secret "storage-config" not found`)
	// The kubelet writes the Pod's status apart from its Events: it may come just after.
	pod = waitPod(ctx, t, client, node, pod, "ContainerCreating", func(p *corev1.Pod) bool {
		w := waiting(p)
		return w != nil && w.Reason == "ContainerCreating"
	})
	if pod.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", pod.Status.Phase)
	}
	t.Logf("container waiting ContainerCreating; kubelet Event FailedMount: %s", ev.Message)
}

// createPod creates a Pod named after the test and deletes it when the test ends. The namespace's
// default ServiceAccount, which admission requires, may not exist yet in a new namespace: creation
// is retried until it does.
func createPod(ctx context.Context, t *testing.T, client kubernetes.Interface, namespace string, spec corev1.PodSpec) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: strings.ToLower(t.Name())[len("testrealnode"):], Namespace: namespace},
		Spec:       spec,
	}
	pods := client.CoreV1().Pods(namespace)
	var created *corev1.Pod
	var createErr error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		created, createErr = pods.Create(ctx, pod, metav1.CreateOptions{})
		return createErr == nil, nil
	})
	if err != nil {
		t.Fatalf("create pod: %v (last error: %v)", err, createErr)
	}
	t.Cleanup(func() { _ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{}) })
	return created
}

// waitPod polls the Pod until done says so, and fails the test with its status and the kubelet's
// log if it does not within 3 minutes.
func waitPod(ctx context.Context, t *testing.T, client kubernetes.Interface, node *testnode.Node, pod *corev1.Pod, what string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	pods := client.CoreV1().Pods(pod.Namespace)
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // the poll bounds the wait
		}
		pod = p
		return done(pod), nil
	})
	if err != nil {
		t.Fatalf("pod %s not %s: %v\nstatus: %+v\nkubelet log:\n%s\ncontainerd log:\n%s", pod.Name, what, err, pod.Status, node.LogTail("kubelet"), node.LogTail("containerd"))
	}
	return pod
}

// waitEvent waits for an Event about the Pod from the node's kubelet with the reason and a message
// containing want, and returns it.
func waitEvent(ctx context.Context, t *testing.T, client kubernetes.Interface, node *testnode.Node, pod *corev1.Pod, reason, want string) corev1.Event {
	t.Helper()
	var found corev1.Event
	var seen []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(pod.UID)})
		if err != nil {
			return false, nil //nolint:nilerr // the poll bounds the wait
		}
		seen = seen[:0]
		for _, ev := range list.Items {
			seen = append(seen, fmt.Sprintf("%s %s/%s: %s", ev.Type, ev.Source.Component, ev.Reason, ev.Message))
			if ev.Source.Component == "kubelet" && ev.Source.Host == node.Name && ev.Reason == reason && strings.Contains(ev.Message, want) {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no kubelet Event %s %q about pod %s: %v; Events:\n%s", reason, want, pod.Name, err, strings.Join(seen, "\n"))
	}
	return found
}

// waiting is the Pod's first container's waiting state, or nil.
func waiting(pod *corev1.Pod) *corev1.ContainerStateWaiting {
	return containerWaiting(pod, pod.Spec.Containers[0].Name)
}

// containerWaiting is the waiting state of the Pod's container name, or nil.
func containerWaiting(pod *corev1.Pod, name string) *corev1.ContainerStateWaiting {
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == name {
			return c.State.Waiting
		}
	}
	return nil
}

// pulled tells whether the registry's access log shows a pull of the image's manifest by tag
// (containerd resolves a tag with HEAD, docker/resolver.go); the harness's own push is a PUT.
func pulled(node *testnode.Node, image string) bool {
	repository, tag, _ := strings.Cut(image, ":")
	return regexp.MustCompile(`"(HEAD|GET) /v2/` + regexp.QuoteMeta(repository) + `/manifests/` + regexp.QuoteMeta(tag) + ` `).MatchString(node.RegistryLog())
}

// TestRealNodeProbesAndPortForward: a port of the Pod is reached through the apiserver (apiserver
// -> kubelet -> containerd's port forward into the Pod's network namespace), as `kubectl
// port-forward` reaches ModelMesh's Service in its quickstart; and the kubelet probes the container
// for real: a failing readiness probe keeps the Pod unready, with the kubelet's Unhealthy Event,
// until the server answers 200 (told so through the port forward).
func TestRealNodeProbesAndPortForward(t *testing.T) {
	ctx, node, client := startNode(t)

	message := "answer from " + node.Name
	pod := createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		NodeName: node.Name,
		Containers: []corev1.Container{{
			Name: "server", Image: node.Image(helloImage), Args: strings.Fields(message),
			Env: []corev1.EnvVar{{Name: "SLEEPER_LISTEN", Value: ":8080"}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 1,
			},
		}},
	})
	waitEvent(ctx, t, client, node, pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
	if p, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil || podReady(p) {
		t.Fatalf("pod with a failing readiness probe: ready %v (%v), want unready", err == nil && podReady(p), err)
	}

	// A port forward needs no readiness: it reaches the container's port itself.
	local := portForward(ctx, t, pod, 8080)
	get := func(path string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+local+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s through the port forward: %v\nkubelet log:\n%s", path, err, node.LogTail("kubelet"))
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s through the port forward: %s %q (%v), want 200", path, resp.Status, body, err)
		}
		return strings.TrimSpace(string(body))
	}
	if got := get("/"); got != message {
		t.Errorf("GET / through the port forward: %q, want %q", got, message)
	}
	get("/ready")
	waitPod(ctx, t, client, node, pod, "Ready once its probe passes", podReady)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// portForward forwards a free local port to the Pod's port through the apiserver until the test
// ends, and returns the local address.
func portForward(ctx context.Context, t *testing.T, pod *corev1.Pod, port int) string {
	t.Helper()
	cfg := shared.cluster.RESTConfig()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := shared.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	var errOut strings.Builder
	forwarder, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- forwarder.ForwardPorts() }()
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Logf("port forward to %s ended: %v", pod.Name, err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port forward to %s: %v %s", pod.Name, err, errOut.String())
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	ports, err := forwarder.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports %v: %v", ports, err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
}

// TestRealNodeAuth: the kubelet's API and the kubelet's own credentials are secured as on a
// kubeadm cluster. Its API refuses anonymous callers (401) and asks the apiserver about the
// others (a service account without rights: 403), while the apiserver's own calls (logs, port
// forward: the tests above) pass. The kubelet acts as system:node:<name>: the Node authorizer lets
// it read a Secret a Pod on it mounts and no other.
func TestRealNodeAuth(t *testing.T) {
	ctx, node, client := startNode(t)

	kubeletURL := kubeletAPI(ctx, t, client, node) + "/pods"
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the kubelet's self-signed serving certificate
	get := func(token string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, kubeletURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	if code, body := get(""); code != http.StatusUnauthorized {
		t.Errorf("anonymous GET %s: %d %q, want 401", kubeletURL, code, body)
	}
	accounts := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault)
	if _, err := accounts.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = accounts.Delete(context.Background(), "nobody", metav1.DeleteOptions{}) })
	token, err := accounts.CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Kubelet fine-grained authorization (1.33+): it asks for nodes/pods, then nodes/proxy.
	want := "Forbidden (user=system:serviceaccount:default:nobody, verb=get, resource=nodes, subresource(s)=[pods proxy])"
	if code, body := get(token.Status.Token); code != http.StatusForbidden || body != want {
		t.Errorf("GET %s as a service account without rights: %d %q, want 403 %q", kubeletURL, code, body, want)
	}

	// The node's identity: what the Node authorizer grants system:node:<name>.
	secrets := client.CoreV1().Secrets(metav1.NamespaceDefault)
	for _, name := range []string{"mounted", "unrelated"} {
		if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = secrets.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	createPod(ctx, t, client, metav1.NamespaceDefault, corev1.PodSpec{
		NodeName:   node.Name,
		Containers: []corev1.Container{{Name: "mounts", Image: node.Image(pauseImage), VolumeMounts: []corev1.VolumeMount{{Name: "s", MountPath: "/s"}}}},
		Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mounted"}}}},
	})
	kubeconfig := filepath.Join(t.TempDir(), "node.kubeconfig")
	if err := shared.cluster.WriteNodeKubeconfig(kubeconfig, node.Name); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	asNode := kubernetes.NewForConfigOrDie(cfg).CoreV1().Secrets(metav1.NamespaceDefault)
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := asNode.Get(ctx, "mounted", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Errorf("the node cannot read the Secret its Pod mounts: %v", err)
	}
	_, err = asNode.Get(ctx, "unrelated", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "no relationship found between node '"+node.Name+"' and this object") {
		t.Errorf("the node reading a Secret none of its Pods mounts: %v, want Forbidden by the Node authorizer", err)
	}
}

// kubeletAPI is the base URL of the node's kubelet API, as the apiserver finds it (InternalIP and
// the port in the Node's status).
func kubeletAPI(ctx context.Context, t *testing.T, client kubernetes.Interface, node *testnode.Node) string {
	t.Helper()
	ip, n := internalIP(ctx, t, client, node)
	return "https://" + net.JoinHostPort(ip, fmt.Sprint(n.Status.DaemonEndpoints.KubeletEndpoint.Port))
}

// internalIP is the node's InternalIP, the machine's address the kubelet reports, with the Node.
func internalIP(ctx context.Context, t *testing.T, client kubernetes.Interface, node *testnode.Node) (string, *corev1.Node) {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address, n
		}
	}
	t.Fatalf("node %s has no InternalIP: %v", node.Name, n.Status.Addresses)
	return "", nil
}
