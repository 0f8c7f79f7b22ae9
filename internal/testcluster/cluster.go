package testcluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/podnet"
)

// KubeconfigContext names the cluster, user and context in files written by WriteKubeconfig.
const KubeconfigContext = "testcluster"

// Options configures Start.
type Options struct {
	// AssetsDir holds kube-apiserver, etcd, kube-controller-manager and kube-scheduler. Empty means
	// $KUBEBUILDER_ASSETS.
	AssetsDir string
	// ModelMeshAssetsDir holds the ModelMesh Serving controller, KWOK and the KServe CRDs (see
	// tools/modelmesh/build.sh). Empty means ModelMeshAssetsDir().
	ModelMeshAssetsDir string
}

// Cluster is a running control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) with the KServe CRDs of the pinned ModelMesh Serving installed, and KWOK playing
// the kubelet of a few fake Nodes: Deployments become Pods that are scheduled, get an IP in the
// cluster's block of podnet.Range and turn Ready (or do not, see ImageNeverPulls), Services get
// Endpoints, deleted namespaces and owned objects are cleaned up as in a real cluster.
type Cluster struct {
	env             *envtest.Environment
	guard           *orphanGuard
	workDir         string
	config          *rest.Config
	pods            *podnet.Block
	assets          string
	modelMeshAssets string
	// adminKubeconfig is what the cluster's own processes connect with.
	adminKubeconfig string
	processes       []*process // started in order, stopped in reverse
}

// Start runs a control plane, installs the KServe CRDs and starts KWOK with its Nodes. A ctx
// deadline bounds the start of each component. Call Stop when done; if the test binary dies first,
// the processes are killed anyway.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	assets := opts.AssetsDir
	if assets == "" {
		assets = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if assets == "" {
		return nil, fmt.Errorf("no kube-apiserver/etcd: KUBEBUILDER_ASSETS is unset; run `make tools` (or %s) and set it to the folder printed", buildTool)
	}
	if err := checkAssets(assets); err != nil {
		return nil, err
	}
	modelMeshAssets := opts.ModelMeshAssetsDir
	if modelMeshAssets == "" {
		var err error
		if modelMeshAssets, err = ModelMeshAssetsDir(); err != nil {
			return nil, err
		}
	} else if err := checkModelMeshAssets(modelMeshAssets); err != nil {
		return nil, err
	}
	crds, err := crdObjects(modelMeshAssets)
	if err != nil {
		return nil, err
	}

	workDir, err := os.MkdirTemp("", "testcluster-")
	if err != nil {
		return nil, err
	}
	guard, err := armOrphanGuard(workDir)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(workDir))
	}
	c := &Cluster{guard: guard, workDir: workDir, assets: assets, modelMeshAssets: modelMeshAssets}
	if c.env, err = newControlPlane(ctx, guard, assets, workDir, crds); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	c.env.ErrorIfCRDPathMissing = true

	cfg, err := c.env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start control plane: %w", err), c.Stop())
	}
	c.config = cfg
	if err := c.bindKubeletClient(ctx); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	if err := c.startNodes(ctx); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// newControlPlane prepares etcd and kube-apiserver from assets, started through guard, with their
// files in workDir, to serve crds once started; a ctx deadline bounds the start.
func newControlPlane(ctx context.Context, guard *orphanGuard, assets, workDir string, crds []*apiextensionsv1.CustomResourceDefinition) (*envtest.Environment, error) {
	apiserver, err := guard.wrap(filepath.Join(assets, "kube-apiserver"))
	if err != nil {
		return nil, err
	}
	etcd, err := guard.wrap(filepath.Join(assets, "etcd"))
	if err != nil {
		return nil, err
	}
	// Nothing reads envtest's logs; without a logger, controller-runtime prints a stack trace when a
	// control plane starts more than 30 s into the process (the mesh's, started on first use).
	ctrllog.SetLogger(logr.Discard())
	useExisting := false // ignore USE_EXISTING_CLUSTER: these tests must never touch a real cluster
	env := &envtest.Environment{UseExistingCluster: &useExisting, CRDs: crds}
	// envtest waits 10 s for installed CRDs to be served, which a machine at load 20 overran.
	env.CRDInstallOptions.MaxTime = time.Minute
	env.ControlPlane.APIServer = &envtest.APIServer{Path: apiserver, CertDir: filepath.Join(workDir, "apiserver")}
	// Without a grace period for watches, a stop waits for every open watch to end on its own (the
	// 20 s stop timeout runs out first); with one, watches are closed after 1 s as on a real restart.
	env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	// As kubeadm does: a real kubelet's Node (internal/testnode) is named by --hostname-override,
	// a name no DNS resolves, so logs and exec must dial its InternalIP.
	env.ControlPlane.APIServer.Configure().Set("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname")
	if err := secureKubeletAPI(env.ControlPlane.APIServer, workDir); err != nil {
		return nil, err
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd, DataDir: filepath.Join(workDir, "etcd")}
	if deadline, ok := ctx.Deadline(); ok {
		env.ControlPlaneStartTimeout = time.Until(deadline)
	}
	for _, dir := range []string{env.ControlPlane.APIServer.CertDir, env.ControlPlane.Etcd.DataDir} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// startNodes starts kube-controller-manager, kube-scheduler and KWOK, and registers the fake Nodes.
func (c *Cluster) startNodes(ctx context.Context) error {
	var err error
	if c.pods, err = podnet.Claim(); err != nil {
		return err
	}
	c.adminKubeconfig = filepath.Join(c.workDir, "admin.kubeconfig")
	if err := c.WriteKubeconfig(c.adminKubeconfig); err != nil {
		return err
	}
	caFile := filepath.Join(c.workDir, "ca.crt")
	if err := os.WriteFile(caFile, c.config.CAData, 0o600); err != nil {
		return err
	}
	kwokConfig := filepath.Join(c.workDir, "kwok.yaml")
	if err := writeKwokConfig(kwokConfig, filepath.Join(c.modelMeshAssets, "kwok-stages"), c.pods); err != nil {
		return err
	}
	// Only the controllers these tests need, of those a cluster runs by default: no node lifecycle
	// (KWOK's Nodes send no heartbeats, and their Pods would be evicted), no node IPAM (each fake
	// Node gets its pod CIDR at creation).
	controllers := []string{
		"deployment-controller", "replicaset-controller", "endpoints-controller", "endpointslice-controller",
		"namespace-controller", "garbage-collector-controller", "serviceaccount-controller", "serviceaccount-token-controller",
		// The kube-root-ca.crt ConfigMap in every namespace: a real kubelet (internal/testnode) mounts
		// it into each Pod's service-account token volume, and a Pod without it never starts.
		"root-ca-certificate-publisher-controller",
	}
	for _, p := range []struct {
		binary, dir string
		args        []string
	}{
		{"kube-controller-manager", c.assets, []string{
			"--kubeconfig=" + c.adminKubeconfig, "--leader-elect=false", "--secure-port=0",
			"--controllers=" + strings.Join(controllers, ","),
			"--service-account-private-key-file=" + filepath.Join(c.env.ControlPlane.APIServer.CertDir, "sa-signer.key"),
			"--root-ca-file=" + caFile,
		}},
		{"kube-scheduler", c.assets, []string{"--kubeconfig=" + c.adminKubeconfig, "--leader-elect=false", "--secure-port=0"}},
		// Only the fake Nodes (createFakeNodes annotates them): a real kubelet's Node (internal/testnode)
		// must be left to that kubelet.
		{"kwok", c.modelMeshAssets, []string{
			"--kubeconfig=" + c.adminKubeconfig, "--config=" + kwokConfig, "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		}},
	} {
		if _, err := c.startProcess(p.binary, filepath.Join(p.dir, p.binary), p.args, nil, c.workDir); err != nil {
			return err
		}
	}
	clientset, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	if err := createFakeNodes(ctx, clientset, c.pods); err != nil {
		return fmt.Errorf("%w\nKWOK log:\n%s", err, c.processes[2].logTail())
	}
	// The service-account controller makes a namespace's default ServiceAccount: proof that
	// kube-controller-manager runs its controllers.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := clientset.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("kube-controller-manager made no default ServiceAccount: %w\nlog:\n%s", err, c.processes[0].logTail())
	}
	return nil
}

// startProcess starts binary through the orphan guard and adds it to the processes Stop stops.
func (c *Cluster) startProcess(name, binary string, args, env []string, dir string) (*process, error) {
	wrapper, err := c.guard.wrap(binary)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(c.workDir, "logs"), 0o755); err != nil {
		return nil, err
	}
	// Each of these runs as a container would in a cluster: restarted when it crashes.
	p := &process{name: name, path: wrapper, args: args, env: env, dir: dir, logPath: filepath.Join(c.workDir, "logs", name+".log"),
		restartOnExit: true, logf: log.Printf}
	if err := p.start(); err != nil {
		return nil, err
	}
	c.processes = append(c.processes, p)
	return p, nil
}

// Stop stops every process of the cluster and removes its files. It is safe on a partly started
// cluster.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.processes) - 1; i >= 0; i-- {
		errs = append(errs, c.processes[i].stop())
	}
	var stopErr error
	if c.env != nil {
		stopErr = c.env.Stop()
	}
	errs = append(errs, stopErr)
	// After a failed stop the watchdog kills whatever is left and removes the files itself.
	clean := errors.Join(errs...) == nil
	if err := c.guard.release(clean); err != nil {
		errs = append(errs, err)
	}
	if c.pods != nil {
		errs = append(errs, c.pods.Release())
	}
	if clean {
		errs = append(errs, os.RemoveAll(c.workDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop cluster: %w", err)
	}
	return nil
}

// RESTConfig returns a copy of an admin (system:masters) client configuration.
func (c *Cluster) RESTConfig() *rest.Config {
	return rest.CopyConfig(c.config)
}

// WriteKubeconfig writes an admin kubeconfig whose current context is KubeconfigContext, usable by
// client-go and by the provider's config_path/config_context.
func (c *Cluster) WriteKubeconfig(path string) error {
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters[KubeconfigContext] = &clientcmdapi.Cluster{
		Server:                   c.config.Host,
		CertificateAuthorityData: c.config.CAData,
	}
	kubeconfig.AuthInfos[KubeconfigContext] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.config.CertData,
		ClientKeyData:         c.config.KeyData,
		Token:                 c.config.BearerToken,
	}
	kubeconfig.Contexts[KubeconfigContext] = &clientcmdapi.Context{
		Cluster:  KubeconfigContext,
		AuthInfo: KubeconfigContext,
	}
	kubeconfig.CurrentContext = KubeconfigContext
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// CreateNamespace creates a namespace with the given labels; when it already exists, the labels are
// added to it.
func (c *Cluster) CreateNamespace(ctx context.Context, name string, labels map[string]string) error {
	clientset, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	namespaces := clientset.CoreV1().Namespaces()
	_, err = namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	switch {
	case err == nil:
		return nil
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	existing, err := namespaces.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if existing.Labels == nil {
		existing.Labels = map[string]string{}
	}
	maps.Copy(existing.Labels, labels)
	if _, err := namespaces.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("label namespace %s: %w", name, err)
	}
	return nil
}

// ProcessLog is the end of the log of the cluster's process name (kube-controller-manager,
// kube-scheduler, kwok, ControllerManager), for a failing test's message; "" if none runs.
func (c *Cluster) ProcessLog(name string) string {
	for _, p := range c.processes {
		if p.name == name {
			return p.logTail()
		}
	}
	return ""
}
