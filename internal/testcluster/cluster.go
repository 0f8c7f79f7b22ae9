package testcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubeconfigContext names the cluster, user and context in files written by WriteKubeconfig.
const KubeconfigContext = "testcluster"

// Options configures Start.
type Options struct {
	// AssetsDir holds the kube-apiserver and etcd binaries. Empty means $KUBEBUILDER_ASSETS.
	AssetsDir string
}

// Cluster is a running kube-apiserver and etcd with the KServe CRDs installed. There is no
// controller-manager: deleted namespaces stay Terminating and nothing is garbage-collected.
type Cluster struct {
	env     *envtest.Environment
	guard   *orphanGuard
	workDir string
	config  *rest.Config
}

// Start runs a control plane and installs the KServe CRDs. A ctx deadline bounds the start of each
// component. Call Stop when done; if the test binary dies first, the processes are killed anyway.
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
	crds, err := crdObjects()
	if err != nil {
		return nil, err
	}

	workDir, err := os.MkdirTemp("", "testcluster-")
	if err != nil {
		return nil, err
	}
	guard, apiserver, etcd, err := armOrphanGuard(workDir, filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"))
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(workDir))
	}
	c := &Cluster{guard: guard, workDir: workDir}

	useExisting := false // ignore USE_EXISTING_CLUSTER: these tests must never touch a real cluster
	c.env = &envtest.Environment{
		UseExistingCluster:    &useExisting,
		CRDs:                  crds,
		ErrorIfCRDPathMissing: true,
	}
	c.env.ControlPlane.APIServer = &envtest.APIServer{Path: apiserver, CertDir: filepath.Join(workDir, "apiserver")}
	// Without a grace period for watches, a stop waits for every open watch to end on its own (the
	// 20 s stop timeout runs out first); with one, watches are closed after 1 s as on a real restart.
	c.env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	c.env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd, DataDir: filepath.Join(workDir, "etcd")}
	if deadline, ok := ctx.Deadline(); ok {
		c.env.ControlPlaneStartTimeout = time.Until(deadline)
	}
	for _, dir := range []string{c.env.ControlPlane.APIServer.CertDir, c.env.ControlPlane.Etcd.DataDir} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}

	cfg, err := c.env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start control plane: %w", err), c.Stop())
	}
	c.config = cfg
	return c, nil
}

// Stop stops the control plane and removes its files.
func (c *Cluster) Stop() error {
	stopErr := c.env.Stop()
	// After a failed stop the watchdog kills whatever is left and removes the files itself.
	if err := c.guard.release(stopErr == nil); err != nil {
		return errors.Join(stopErr, err)
	}
	if stopErr != nil {
		return fmt.Errorf("stop control plane: %w", stopErr)
	}
	return os.RemoveAll(c.workDir)
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
