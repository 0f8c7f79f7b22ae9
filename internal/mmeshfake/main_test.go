package mmeshfake

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/podnet"
)

// stack is a kube-apiserver and etcd shared by the tests of this package: the apiserver holds the
// runtime pods, the etcd also holds model-mesh's registry, as in the test stack.
type stack struct {
	cfg    *rest.Config
	kube   kubernetes.Interface
	etcd   *clientv3.Client
	etcdEP string
	// pods is the block of addresses these tests' pods use.
	pods *podnet.Block
	next int
}

var (
	theStack    *stack
	theStackErr error
	stackOnce   sync.Once
	stackMu     sync.Mutex
	stopStack   func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopStack != nil {
		stopStack()
	}
	os.Exit(code)
}

// needStack starts the shared control plane on first use. The binaries come from
// $KUBEBUILDER_ASSETS (make testacc sets it from tools/k8s/build.sh).
func needStack(t *testing.T) *stack {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Skip("needs kube-apiserver and etcd: set KUBEBUILDER_ASSETS=$(tools/k8s/build.sh)")
	}
	stackOnce.Do(func() { theStack, theStackErr = startStack(assets) })
	if theStackErr != nil {
		t.Fatal(theStackErr)
	}
	return theStack
}

func startStack(assets string) (*stack, error) {
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(assets, "etcd")}
	env.ControlPlane.APIServer = &envtest.APIServer{Path: filepath.Join(assets, "kube-apiserver")}
	env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	cfg, err := env.Start()
	if err != nil {
		return nil, err
	}
	s := &stack{cfg: cfg, etcdEP: env.ControlPlane.Etcd.URL.String()}
	pods, err := podnet.Claim()
	stopStack = func() {
		if s.etcd != nil {
			_ = s.etcd.Close()
		}
		if pods != nil {
			_ = pods.Release()
		}
		_ = env.Stop()
	}
	if err != nil {
		return nil, err
	}
	s.pods = pods
	if s.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if s.etcd, err = clientv3.New(clientv3.Config{Endpoints: []string{s.etcdEP}, DialTimeout: 10 * time.Second}); err != nil {
		return nil, err
	}
	return s, nil
}

// podIP hands out a fresh address of the claimed block.
func (s *stack) podIP() string {
	stackMu.Lock()
	defer stackMu.Unlock()
	s.next++
	cidr := netip.MustParsePrefix(s.pods.PodCIDR(s.next / 250))
	ip := cidr.Addr()
	for range 1 + s.next%250 {
		ip = ip.Next()
	}
	return ip.String()
}

const (
	serviceName = "modelmesh-serving"
	grpcPort    = "8033"
)

// namespace creates a namespace with the etcd secret and the type-constraints ConfigMap (for the
// runtimes of sklearnAndOnnx) the controller writes into a model-serving namespace, and the
// storage-config Secret with key localMinIO a user creates there; it returns its root prefix.
func (s *stack) namespace(t *testing.T) (string, string) {
	t.Helper()
	ctx := context.Background()
	ns, err := s.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mm-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// EtcdSecret.addData: the controller namespace's root prefix + "/mm_ns/" + namespace.
	root := "modelmesh-serving/mm_ns/" + ns.Name
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "model-serving-etcd", Namespace: ns.Name},
		Data: map[string][]byte{etcdSecretKey: fmt.Appendf(nil,
			`{"endpoints":%q,"root_prefix":%q}`, s.etcdEP, root)},
	}
	if _, err := s.kube.CoreV1().Secrets(ns.Name).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	storage := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: storageVolume, Namespace: ns.Name},
		Data:       map[string][]byte{"localMinIO": []byte(`{"type":"s3","endpoint_url":"http://minio.invalid:9000","bucket":"models"}`)},
	}
	if _, err := s.kube.CoreV1().Secrets(ns.Name).Create(ctx, storage, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: typeConstraintsVol, Namespace: ns.Name},
		BinaryData: map[string][]byte{typeConstraintsKey: []byte(sklearnAndOnnx)},
	}
	if _, err := s.kube.CoreV1().ConfigMaps(ns.Name).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns.Name, root
}

// sklearnAndOnnx are the type constraints the controller writes for two runtimes, "sk" (sklearn,
// autoSelect, grpc-v2) and "ox" (onnx), with the REST proxy enabled
// (ClusterConfig.calculateConstraintData).
const sklearnAndOnnx = `{
 "rt:sk": {"required": ["rt:sk"]},
 "mt:sklearn": {"required": ["mt:sklearn"]},
 "mt:sklearn|pv:grpc-v2": {"required": ["mt:sklearn", "pv:grpc-v2"]},
 "rt:ox": {"required": ["rt:ox"]},
 "mt:onnx": {"required": ["mt:onnx"]},
 "_default": {"required": ["_no_runtime"]}
}`

var (
	sklearnLabels = "mt:sklearn,pv:grpc-v2,pv:v2,rt:sk"
	onnxLabels    = "mt:onnx,pv:grpc-v2,pv:v2,rt:ox"
)

// runtimePod creates a pod shaped like those of the controller's runtime Deployments
// (deployment.yaml.tmpl plus addMMEnvVars, addModelTypeConstraints, configureMMDeploymentForEtcdSecret)
// and marks it Ready at a fresh pod IP, as the kubelet (KWOK in the stack) would. adapterEnv is the
// environment of its adapter container.
func (s *stack) runtimePod(t *testing.T, ns, runtime, mmLabels string, adapterEnv ...corev1.EnvVar) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: serviceName + "-" + runtime + "-5d8f7c9b4-", Namespace: ns,
			Labels: map[string]string{"modelmesh-service": serviceName, "name": serviceName + "-" + runtime},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "puller", Image: "kserve/modelmesh-runtime-adapter", Env: adapterEnv},
				{Name: mmContainer, Image: "kserve/modelmesh",
					Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 8033}},
					Env: []corev1.EnvVar{
						{Name: "MM_SERVICE_NAME", Value: serviceName},
						{Name: "MM_SVC_GRPC_PORT", Value: grpcPort},
						{Name: "KV_STORE", Value: "etcd:/opt/kserve/mmesh/etcd/etcd_connection"},
						{Name: "MM_KVSTORE_PREFIX", Value: "mm"},
						{Name: "MM_DEFAULT_VMODEL_OWNER", Value: "ksp"},
						{Name: "MM_LABELS", Value: mmLabels},
						{Name: "MM_TYPE_CONSTRAINTS_PATH", Value: "/etc/watson/mmesh/config/type_constraints"},
					}},
			},
			Volumes: []corev1.Volume{
				{Name: typeConstraintsVol, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: typeConstraintsVol}}}},
				{Name: etcdVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "model-serving-etcd"}}},
				{Name: storageVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: storageVolume}}},
			},
		},
	}
	pod, err := s.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.setReady(t, pod, true, time.Now())
}

// setReady sets the pod's Ready condition; started is when its mm container (re)started.
func (s *stack) setReady(t *testing.T, pod *corev1.Pod, ready bool, started time.Time) *corev1.Pod {
	t.Helper()
	var restarts int32
	if len(pod.Status.ContainerStatuses) > 0 {
		restarts = pod.Status.ContainerStatuses[0].RestartCount
	}
	return s.writeStatus(t, pod, ready, started, restarts)
}

// restart plays the kubelet restarting the pod's mm container: it runs again from now, ready, and
// its restart count goes up, which also tells a restart within the same second.
func (s *stack) restart(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	return s.writeStatus(t, pod, true, time.Now(), pod.Status.ContainerStatuses[0].RestartCount+1)
}

func (s *stack) writeStatus(t *testing.T, pod *corev1.Pod, ready bool, started time.Time, restarts int32) *corev1.Pod {
	t.Helper()
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	if pod.Status.PodIP == "" {
		pod.Status.PodIP = s.podIP()
		pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: mmContainer, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}}
	pod, err := s.kube.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// startServer runs the package under test against the stack, stopped at the end of the test.
func (s *stack) startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.Kube, opts.EtcdEndpoints, opts.Logf = s.cfg, []string{s.etcdEP}, t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// client dials model-mesh at a pod with the generated client, as the controller does; it waits
// until the instance serves there.
func client(t *testing.T, pod *corev1.Pod) mmesh.ModelMeshClient {
	t.Helper()
	conn, err := grpc.NewClient(net.JoinHostPort(pod.Status.PodIP, grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := mmesh.NewModelMeshClient(conn)
	eventually(t, "model-mesh serves at pod "+pod.Name, func(ctx context.Context) (bool, error) {
		_, err := c.GetVModelStatus(ctx, &mmesh.GetVModelStatusRequest{VModelId: "probe"})
		return err == nil, nil
	})
	return c
}

// eventually polls cond until it holds, failing the test after a bound.
func eventually(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return cond(ctx)
		})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
