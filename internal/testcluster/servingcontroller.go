package testcluster

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// The ModelMesh Serving install as its own manifests make it (modelmesh-serving config/manager and
// docs/install): the controller's Deployment in its namespace, the etcd connection Secret. The
// controller owns the namespace's modelmesh-serving Service through that Deployment, and finds
// etcd through that Secret (pkg/mmesh/etcdrangewatcher.go: key etcd_connection).
const (
	// ControllerDeployment is the Deployment the controller runs as; its Pods are KWOK's, the
	// controller itself runs as a process of the test.
	ControllerDeployment = "modelmesh-controller"
	// EtcdSecret names the Secret with the controller's (and model-mesh's) etcd connection.
	EtcdSecret = "model-serving-etcd"
	// EtcdRootPrefix is the root_prefix of that connection: ModelMesh's keys in the cluster's etcd.
	EtcdRootPrefix = "modelmesh-serving"
	// ControllerManager is the field manager of the controller's writes (its user agent's program
	// name), as shown in managedFields.
	ControllerManager = "modelmesh-controller"

	controllerImage = "kserve/modelmesh-controller:v0.12.0"
	probePort       = 8081
)

// StartServing installs ModelMesh Serving in ServingNamespace (created with the modelmesh-enabled
// label, as StartLocal does) and starts its controller, with no model-mesh stand-in in this
// process: for runtime Pods that run model-mesh themselves (internal/testnode's real node, whose
// mm container is model-mesh's stand-in in process mode). etcdEndpoint is model-mesh's etcd, which
// the etcd Secret names for the controller and the Pods alike; the cluster's own etcd listens on
// loopback, out of a Pod's reach. stopController stops the controller before what it depends on
// goes (model-mesh's etcd), so that it does not run on, failing, until the cluster stops.
func (c *Cluster) StartServing(ctx context.Context, etcdEndpoint string) (stopController func() error, err error) {
	if err := c.CreateNamespace(ctx, ServingNamespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		return nil, err
	}
	if err := c.installServing(ctx, etcdEndpoint); err != nil {
		return nil, err
	}
	controller, err := c.startServingController(ctx)
	if controller == nil {
		return nil, err
	}
	return controller.stop, err
}

// installServing creates what the controller needs in ServingNamespace, its etcd Secret naming
// etcdEndpoint.
func (c *Cluster) installServing(ctx context.Context, etcdEndpoint string) error {
	clientset, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	etcdConnection, err := json.Marshal(map[string]string{
		"endpoints":   etcdEndpoint,
		"root_prefix": EtcdRootPrefix,
	})
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: EtcdSecret, Namespace: ServingNamespace},
		Data:       map[string][]byte{"etcd_connection": etcdConnection},
	}
	if _, err := clientset.CoreV1().Secrets(ServingNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the etcd Secret: %w", err)
	}
	labels := map[string]string{"control-plane": ControllerDeployment}
	replicas := int32(1)
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ControllerDeployment, Namespace: ServingNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: controllerImage}}},
			},
		},
	}
	if _, err := clientset.AppsV1().Deployments(ServingNamespace).Create(ctx, deployment, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the controller Deployment: %w", err)
	}
	return nil
}

// startServingController starts the controller and waits until it is ready.
func (c *Cluster) startServingController(ctx context.Context) (*process, error) {
	// The webhook server starts only with a certificate, read from
	// $TMPDIR/k8s-webhook-server/serving-certs; restarts of the process keep it.
	tmpDir := filepath.Join(c.workDir, "modelmesh-controller")
	caBundle, err := writeServingCert(filepath.Join(tmpDir, "k8s-webhook-server", "serving-certs"), c.pods.Host())
	if err != nil {
		return nil, err
	}
	probeAddr := c.controllerProbeAddr()
	p, err := c.startProcess(ControllerManager, filepath.Join(c.modelMeshAssets, "modelmesh-controller"),
		[]string{"--metrics-addr=0", "--health-probe-bind-address=" + probeAddr},
		[]string{
			"NAMESPACE=" + ServingNamespace,
			"KUBECONFIG=" + c.adminKubeconfig,
			"TMPDIR=" + tmpDir,
			"TESTCLUSTER_WEBHOOK_HOST=" + c.pods.Host(),
		},
		filepath.Join(c.modelMeshAssets, "serving"))
	if err != nil {
		return nil, err
	}
	if err := waitServingController(ctx, p, probeAddr); err != nil {
		return p, err
	}
	return p, c.registerWebhook(ctx, caBundle)
}

// webhookPort is the controller's webhook server port (main.go: webhook.Options{Port: 9443}).
const webhookPort = 9443

// registerWebhook registers the controller's ServingRuntime webhook as upstream's install does
// (config/webhook/manifests.yaml: CREATE and UPDATE of ServingRuntimes and ClusterServingRuntimes,
// failurePolicy Fail), so that what a cluster refuses is refused here too, and so that runtime
// writes fail while the controller is down, as they do on a cluster. The controller runs as a
// process here, not behind upstream's webhook Service: the webhook is reached by URL.
func (c *Cluster) registerWebhook(ctx context.Context, caBundle []byte) error {
	raw, err := os.ReadFile(filepath.Join(c.modelMeshAssets, "serving", "config", "webhook", "manifests.yaml"))
	if err != nil {
		return fmt.Errorf("read the controller's webhook manifest: %w", err)
	}
	var config admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.Unmarshal(raw, &config); err != nil {
		return fmt.Errorf("decode the controller's webhook manifest: %w", err)
	}
	for i := range config.Webhooks {
		cc := &config.Webhooks[i].ClientConfig
		if cc.Service == nil || cc.Service.Path == nil {
			return fmt.Errorf("webhook %s of the controller's manifest has no service path", config.Webhooks[i].Name)
		}
		url := "https://" + net.JoinHostPort(c.pods.Host(), fmt.Sprint(webhookPort)) + *cc.Service.Path
		cc.URL, cc.Service, cc.CABundle = &url, nil, caBundle
	}
	clientset, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	if _, err := clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &config, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("register the controller's webhook: %w", err)
	}
	return nil
}

func (c *Cluster) controllerProbeAddr() string {
	return net.JoinHostPort(c.pods.Host(), fmt.Sprint(probePort))
}

// waitServingController waits until the controller's manager answers its readiness probe, which it
// does once its caches and controllers started.
func waitServingController(ctx context.Context, p *process, probeAddr string) error {
	client := &http.Client{Timeout: time.Second}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if !p.running() {
			return false, errors.New("the ModelMesh controller exited")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+probeAddr+"/readyz", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet; the poll bounds the wait
		}
		_ = resp.Body.Close() // only the status matters
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("start the ModelMesh controller: %w\nlog:\n%s", err, p.logTail())
	}
	return nil
}

// writeServingCert writes a self-signed certificate for host as tls.crt and tls.key in dir, and
// returns the certificate, which is its own CA.
func writeServingCert(dir, host string) ([]byte, error) {
	cert, key, err := newCert(&x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		IPAddresses:  []net.IP{net.ParseIP(host)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	return writeCertAndKey(dir, "tls.crt", "tls.key", cert, key)
}
