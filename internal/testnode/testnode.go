// Package testnode runs a real kubelet node for a test cluster (issue 25): containerd and runc from
// the machine's packages, the kubelet built by tools/k8s/build-node.sh, a bridge CNI network and a
// CNCF distribution registry the node pulls its images from, all with their own files under one
// temporary folder, so that several nodes (and several test binaries) can share the machine.
package testnode

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// CNIBinDir is where Debian's containernetworking-plugins puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// Options configures Start.
type Options struct {
	// KubeletDir holds the kubelet (tools/k8s/build-node.sh prints it).
	KubeletDir string
	// RegistryBinary is the CNCF distribution registry (make clis builds it).
	RegistryBinary string
	// Images are pushed to the node's registry before containerd starts; the kubelet pulls them
	// from there like any image.
	Images []Image
	// SandboxImage is the Name of the pause image, one of Images: containerd pulls it from the
	// registry for the first Pod and runs it as each Pod's sandbox (the default,
	// registry.k8s.io/pause, is out of reach: no network here).
	SandboxImage string
}

// Missing names what this machine lacks to run a node with the kubelet in kubeletDir and the
// registry registryBinary, or returns "" when nothing is: root, containerd with its runc shim, ctr,
// runc, the CNI plugins, the kubelet and the registry. Each item says how to get it.
func Missing(kubeletDir, registryBinary string) string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (containerd and the kubelet mount, make cgroups and network namespaces)")
	}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (apt-get install containerd runc)")
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, plugin)); err != nil {
			missing = append(missing, "the CNI "+plugin+" plugin in "+CNIBinDir+" (apt-get install containernetworking-plugins)")
		}
	}
	if _, err := os.Stat(filepath.Join(kubeletDir, "kubelet")); err != nil {
		missing = append(missing, "the kubelet in "+kubeletDir+" (run tools/k8s/build-node.sh)")
	}
	if _, err := os.Stat(registryBinary); err != nil {
		missing = append(missing, "the registry "+registryBinary+" (run make clis)")
	}
	return strings.Join(missing, "; ")
}

// Node is a running containerd and kubelet, registered with the cluster as Name.
type Node struct {
	Name         string
	dir          string
	socket       string
	bridge       string
	cgroupRoot   string
	registryHost string
	client       kubernetes.Interface
	registry     *daemon
	containerd   *daemon
	kubelet      *daemon
}

// daemon is a started process; done closes when it has exited.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (d *daemon) running() bool {
	if d == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Start starts the registry, pushes the images, starts containerd and the kubelet against cluster
// and waits until its Node is Ready. Call Stop when done.
func Start(ctx context.Context, cluster *testcluster.Cluster, opts Options) (*Node, error) {
	client, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testnode-")
	if err != nil {
		return nil, err
	}
	n := &Node{
		Name: filepath.Base(dir), dir: dir, socket: filepath.Join(dir, "containerd.sock"), client: client,
		// Interface names are at most 15 bytes (IFNAMSIZ).
		bridge: fmt.Sprintf("tn%d", rand.IntN(1e8)),
	}
	n.cgroupRoot = "/" + n.Name
	if err := SweepOrphans(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if err := n.record(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if err := n.start(ctx, cluster, opts); err != nil {
		return nil, errors.Join(err, n.Stop(context.WithoutCancel(ctx)))
	}
	return n, nil
}

func (n *Node) start(ctx context.Context, cluster *testcluster.Cluster, opts Options) error {
	if err := n.makeCgroupRoot(); err != nil {
		return err
	}
	if err := n.writeCNIConfig(); err != nil {
		return err
	}
	if err := n.startRegistry(ctx, opts.RegistryBinary); err != nil {
		return err
	}
	for _, image := range opts.Images {
		if err := n.push(ctx, image); err != nil {
			return err
		}
	}
	if err := n.startContainerd(ctx, n.Image(opts.SandboxImage)); err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.dir, "kubeconfig")
	// The node's own credentials, those a kubelet's TLS bootstrap ends with (a bootstrap token and
	// the CSR signer would issue the same user; that handshake is not run here).
	if err := cluster.WriteNodeKubeconfig(kubeconfig, n.Name); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	config := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(config, []byte(n.kubeletConfig(port, cluster.KubeletClientCAFile())), 0o600); err != nil {
		return err
	}
	n.kubelet, err = n.run("kubelet", exec.Command(filepath.Join(opts.KubeletDir, "kubelet"),
		"--config="+config, "--kubeconfig="+kubeconfig, "--root-dir="+filepath.Join(n.dir, "kubelet"),
		"--hostname-override="+n.Name, "--v=2"))
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if !n.kubelet.running() {
			return false, errors.New("kubelet exited")
		}
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not registered yet; the poll bounds the wait
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready: %w\nkubelet log:\n%s", n.Name, err, n.LogTail("kubelet"))
	}
	return n.untaintReady(ctx)
}

// untaintReady removes the node.kubernetes.io/not-ready:NoSchedule taint the kubelet registers its
// Node with, as kube-controller-manager's node lifecycle controller does once the Node is Ready
// (pkg/controller/nodelifecycle, doNoScheduleTaintingPass). testcluster runs no such controller
// (KWOK's Nodes send no heartbeats, and it would evict their Pods), so without this the scheduler
// would never place a Pod here.
func (n *Node) untaintReady(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints := slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeNotReady && t.Effect == corev1.TaintEffectNoSchedule
		})
		if len(taints) == len(node.Spec.Taints) {
			return nil
		}
		node.Spec.Taints = taints
		_, err = n.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// makeCgroupRoot creates the kubelet's cgroup root in every cgroup v1 hierarchy: the kubelet
// refuses a root that does not exist, and a root of its own keeps its kubepods tree apart from
// other nodes' and the machine's. A new cpuset cgroup starts with no CPUs and no memory nodes
// (cgroup-v1/cpusets.rst), so those are copied from the parent, or no task could join it.
func (n *Node) makeCgroupRoot() error {
	for _, hierarchy := range cgroupHierarchies("cgroup") {
		dir := filepath.Join(hierarchy, n.cgroupRoot)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			value, err := os.ReadFile(filepath.Join(hierarchy, file))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// cgroupHierarchies lists the mounted cgroup hierarchies of the given types (/proc/self/mounts:
// "cgroup" for v1, "cgroup2" for the unified hierarchy systemd-era machines also mount).
func cgroupHierarchies(fsTypes ...string) []string {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 2 && slices.Contains(fsTypes, f[2]) {
			dirs = append(dirs, f[1])
		}
	}
	return dirs
}

// writeCNIConfig writes a bridge network on a /24 of 10.200.0.0/13 picked at random (RFC 1918;
// the machine's own networks and podnet.Range lie elsewhere), with host-local IPAM keeping its
// leases under the node's folder instead of /var/lib/cni. No ipMasq and no portmap: both add
// iptables rules to the machine, and the spike's Pods need neither the outside world nor host ports.
func (n *Node) writeCNIConfig() error {
	subnet := fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(8), rand.IntN(256))
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}
  }]
}`, n.Name, n.bridge, subnet, filepath.Join(n.dir, "cni-ipam"))
	netDir := filepath.Join(n.dir, "net.d")
	if err := os.Mkdir(netDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(netDir, "10-bridge.conflist"), []byte(conf), 0o644)
}

// startContainerd runs containerd with its own root, state and socket, and a config for its CRI
// plugin (containerd 1.6, config version 2: docs/cri/config.md of that release).
func (n *Node) startContainerd(ctx context.Context, sandboxImage string) error {
	certsDir, err := n.writeHostsConfig()
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  # The pause image in the node's registry: the default (registry.k8s.io/pause) is out of reach.
  sandbox_image = %q
  # CRI gives sandboxes oom_score_adj -998, and lowering it needs CAP_SYS_RESOURCE, which this
  # machine's root lacks (CapBnd): runc init then dies ("can't get final child's PID from pipe: EOF").
  # With this, containerd keeps every score at or above its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # The kubelet's cgroupDriver: both must agree, and this machine has no systemd.
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    # hosts.toml per registry host (writeHostsConfig).
    config_path = %q
`, filepath.Join(n.dir, "containerd", "root"), filepath.Join(n.dir, "containerd", "state"), n.socket,
		sandboxImage, CNIBinDir, filepath.Join(n.dir, "net.d"), certsDir)
	path := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return err
	}
	if n.containerd, err = n.run("containerd", exec.Command("containerd", "--config="+path)); err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := n.ctr(ctx, "version")
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("containerd did not answer: %w\nlog:\n%s", err, n.LogTail("containerd"))
	}
	return nil
}

// kubeletConfig is the KubeletConfiguration (kubelet.config.k8s.io/v1beta1) for this machine.
func (n *Node) kubeletConfig(port int, clientCAFile string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://%s
# containerd 1.6 has no RuntimeConfig CRI call, so the kubelet falls back to this (until 1.38).
cgroupDriver: cgroupfs
# A root of our own (makeCgroupRoot), not the machine's.
cgroupRoot: %s
# This machine has cgroup v1 only; kubelet >= 1.35 refuses it unless told not to.
failCgroupV1: false
# The machine may have swap; the kubelet refuses to start with swap unless told not to.
failSwapOn: false
# A free port: nodes started side by side must not collide. The apiserver reads it from the Node's
# status (daemonEndpoints) to fetch logs.
port: %d
# No unauthenticated read-only port and no healthz listener, nothing here reads them.
readOnlyPort: 0
healthzPort: 0
# As kubeadm sets it: no anonymous callers; client certificates of the cluster's kubelet client CA
# (the apiserver's, for logs, exec and port forward) and bearer tokens (TokenReview) are
# authenticated, and every call is authorized by the apiserver (SubjectAccessReview).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization:
  mode: Webhook
# No static Pods.
staticPodPath: ""
# Container logs under the node's folder, not /var/log/pods.
podLogsDir: %s
# The machine's disk is shared and often over 85%% full: the default thresholds (nodefs 10%%,
# imagefs 15%%) would put the Node under DiskPressure and evict its Pods.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  nodefs.inodesFree: 1%%
  imagefs.available: 1%%
  imagefs.inodesFree: 1%%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, n.socket, n.cgroupRoot, port, clientCAFile, filepath.Join(n.dir, "pod-logs"))
}

// run starts cmd as a daemon logging to <dir>/<name>.log. Pdeathsig kills it if the test binary
// dies without Stop (containerd's shims outlive it by design: Stop deletes the Pods first).
func (n *Node) run(name string, cmd *exec.Cmd) (*daemon, error) {
	logFile, err := os.Create(filepath.Join(n.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(d.done) }()
	return d, nil
}

// ctr runs containerd's CLI against this node's containerd, in the CRI plugin's namespace.
func (n *Node) ctr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address=" + n.socket, "--namespace=k8s.io"}, args...)...).CombinedOutput()
	return string(out), err
}

// LogTail is the last 4 KiB of a daemon's log ("containerd", "kubelet" or "registry").
func (n *Node) LogTail(name string) string {
	b, err := os.ReadFile(filepath.Join(n.dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-4096):])
}

// Stop deletes the node's Pods (so that the kubelet tears their sandboxes and networks down
// through the CRI), stops the kubelet, containerd and the registry, and removes the Node, the
// bridge, the cgroups and the files (the registry's storage among them).
func (n *Node) Stop(ctx context.Context) error {
	var errs []error
	if n.kubelet.running() {
		errs = append(errs, n.drain(ctx))
	}
	errs = append(errs, stop(n.kubelet))
	if n.containerd.running() {
		// Whatever the kubelet left (it was killed, or a Pod would not stop): kill it, or the
		// shims and their mounts outlive containerd.
		if out, err := n.ctr(ctx, "tasks", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				_, _ = n.ctr(ctx, "tasks", "kill", "--signal=SIGKILL", id)
				_, _ = n.ctr(ctx, "tasks", "delete", "--force", id)
			}
		}
	}
	errs = append(errs, stop(n.containerd), stop(n.registry))
	if err := n.client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := errors.Join(append(errs, n.removeLeftovers())...); err != nil {
		return fmt.Errorf("stop node %s: %w", n.Name, err)
	}
	return nil
}

// removeLeftovers removes, once the node's processes are gone, its Pods' network namespaces, its
// bridge, its mounts, its cgroups and its folder.
func (n *Node) removeLeftovers() error {
	var errs []error
	if _, err := net.InterfaceByName(n.bridge); n.bridge != "" && err == nil {
		errs = append(errs, n.removePodNetNamespaces())
		if out, err := exec.Command("ip", "link", "delete", n.bridge).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w: %s", n.bridge, err, out))
		}
	}
	errs = append(errs, unmountUnder(n.dir), n.removeCgroups())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("files left in %s: %w", n.dir, err)
	}
	return os.RemoveAll(n.dir)
}

// bridgeNetNamespaces names the network namespaces (under /var/run/netns) of the Pods on a node's
// bridge: the other end of each veth the bridge holds. containerd makes one per Pod sandbox and
// removes it only when it stops the sandbox, so a node that dies with Pods running leaves them.
func bridgeNetNamespaces(bridge string) ([]string, error) {
	out, err := exec.Command("ip", "-o", "link", "show", "master", bridge).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("list the links of bridge %s: %w: %s", bridge, err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		for i := range len(fields) - 1 {
			if fields[i] == "link-netns" {
				names = append(names, fields[i+1])
			}
		}
	}
	return names, nil
}

func (n *Node) removePodNetNamespaces() error {
	names, err := bridgeNetNamespaces(n.bridge)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		// ip netns delete unmounts the namespace's file and removes it; the veth goes with it.
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("delete network namespace %s: %w: %s", name, err, out))
		}
	}
	return errors.Join(errs...)
}

// drain deletes the Pods bound to the node and waits until the kubelet has stopped them and
// confirmed their deletion.
func (n *Node) drain(ctx context.Context) error {
	selector := "spec.nodeName=" + n.Name
	pods := n.client.CoreV1().Pods(metav1.NamespaceAll)
	list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		return err
	}
	for _, pod := range list.Items {
		err := n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: selector})
		return err == nil && len(list.Items) == 0, nil
	})
}

// stop sends SIGTERM, then SIGKILL after 15 s.
func stop(d *daemon) error {
	if !d.running() {
		return nil
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return nil //nolint:nilerr // it exited meanwhile
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(15 * time.Second):
		return d.cmd.Process.Kill()
	}
}

// unmountUnder detaches every mount below dir (kubelet volumes, containerd's snapshots), deepest
// first.
func unmountUnder(dir string) error {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return err
	}
	lines := strings.Split(string(mounts), "\n")
	var errs []error
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			if err := syscall.Unmount(f[1], syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", f[1], err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeCgroups removes the cgroup root and what the kubelet made in it, deepest first (a cgroup
// is removed with rmdir once it has no tasks and no children).
func (n *Node) removeCgroups() error {
	var errs []error
	// runc also makes the container's cgroup in the unified hierarchy (cgroup v1's hybrid mode).
	for _, hierarchy := range cgroupHierarchies("cgroup", "cgroup2") {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(hierarchy, n.cgroupRoot), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// freePort asks the kernel for a free TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port //nolint:forcetypeassert // a "tcp" listener's address is a *net.TCPAddr
	return port, l.Close()
}
