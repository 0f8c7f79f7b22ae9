// Package acctest runs the provider's acceptance tests against the local stack or, when asked to,
// against real ASM and a real cluster.
package acctest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/acctest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// Environment switches. By default the local stack is started. ASM_ACC_REAL=1 uses real ASM
// (credentials from the standard ALIBABA_CLOUD_* variables, ASM_ACC_MESH_ID, ASM_ACC_OLD_MESH_ID,
// ASM_ACC_CLUSTER_ID) and the cluster in KUBECONFIG. ASM_ACC_KUBE=existing keeps the fake ASM but
// uses the cluster in KUBECONFIG (kind), with the CRDs installed.
const (
	EnvReal      = "ASM_ACC_REAL"
	EnvKube      = "ASM_ACC_KUBE"
	EnvMeshID    = "ASM_ACC_MESH_ID"
	EnvOldMeshID = "ASM_ACC_OLD_MESH_ID"
	EnvClusterID = "ASM_ACC_CLUSTER_ID"
)

// ProtoV6ProviderFactories serves the provider under test in-process, as main does (planfast's
// no-change plans, checked against the framework's since TF_ACC is set); Run sets it.
var ProtoV6ProviderFactories map[string]func() (tfprotov6.ProviderServer, error)

var env struct {
	stack      *localstack.Stack // nil against real ASM
	restConfig *rest.Config
	kubeconfig string
}

// Run is the TestMain body of a package with acceptance tests: it starts the stack the tests
// need (only when TF_ACC is set), runs them, and stops everything again.
func Run(m *testing.M, newProvider func() provider.Provider) int {
	ProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
		"asm": planfast.NewProtocol6(newProvider),
	}
	if os.Getenv("TF_ACC") == "" {
		return m.Run()
	}
	stop, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acctest: starting the test stack:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

func start() (func(), error) {
	if os.Getenv(EnvReal) != "" {
		return loadExistingCluster()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if os.Getenv(EnvKube) == "existing" {
		if _, err := loadExistingCluster(); err != nil {
			return nil, err
		}
		stack, err := localstack.StartASMOnly(localstack.Options{ASM: asmOptions()})
		if err != nil {
			return nil, err
		}
		stack.Kubeconfig, env.stack = env.kubeconfig, stack
		return func() { _ = stack.Stop() }, nil
	}
	// The built-in runtimes, as on a real install: models that name no runtime meet them.
	stack, err := localstack.Start(ctx, localstack.Options{ASM: asmOptions(), ModelMesh: ModelMeshOptions(), BuiltInRuntimes: true})
	if err != nil {
		return nil, err
	}
	env.stack, env.restConfig, env.kubeconfig = stack, stack.RESTConfig(), stack.Kubeconfig
	return func() { _ = stack.Stop() }, nil
}

// Storage paths that make model-mesh's stand-in fail a load (in every Pod, or only in the first
// that tries it), or take SlowLoadDelay over it.
const (
	FailPathMarker     = "fail/"
	FailOncePathMarker = "fail-once/"
	SlowPathMarker     = "slow/"
)

// LoadTimeSegment is a storage path segment that makes model-mesh's stand-in take d over a load.
func LoadTimeSegment(d time.Duration) string {
	return "load-" + strconv.FormatInt(d.Milliseconds(), 10) + "ms/"
}

// ModelMeshOptions are the stand-in's settings for acceptance tests: loads short enough to keep the
// suite quick, slow ones longer than any wait a test sets, and a retry of a failed load late enough
// that the controller always reports the failure first, as it may on a busy model-mesh. Type
// constraints reach model-mesh at once (TypeConstraintsRefresh zero): a model whose runtime is added
// beside running runtimes would otherwise wait for the reaper, minutes; the test about that delay
// (TestAccInferenceService_typeConstraintsArriveLate) sets it on a cluster of its own.
func ModelMeshOptions() mmeshfake.Options {
	return mmeshfake.Options{
		LoadDelay:          200 * time.Millisecond,
		SlowLoadDelay:      5 * time.Minute,
		RetryDelay:         2 * time.Second,
		FailPathMarker:     FailPathMarker,
		FailOncePathMarker: FailOncePathMarker,
		SlowPathMarker:     SlowPathMarker,
	}
}

// asmOptions keeps transitions observable but short, so waits are exercised without slowing the suite.
func asmOptions() asmfake.Options {
	return asmfake.Options{AttachDelay: 500 * time.Millisecond, DetachDelay: 500 * time.Millisecond,
		MeshUpdateDelay: 500 * time.Millisecond}
}

func loadExistingCluster() (func(), error) {
	// Nothing to stop: the cluster is the caller's.
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		return nil, fmt.Errorf("%s=1 or %s=existing needs KUBECONFIG pointing at the cluster to test against", EnvReal, EnvKube)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading KUBECONFIG %q: %w", path, err)
	}
	env.restConfig, env.kubeconfig = cfg, path
	return func() {}, nil
}

// requireStack skips an acceptance test outside TF_ACC runs, before it touches the cluster; like
// resource.Test itself, so that plain `go test` runs only the unit tests.
func requireStack(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 (make testacc)")
	}
}

// PreCheck fails fast when the environment the tests need is incomplete.
func PreCheck(t *testing.T) {
	t.Helper()
	requireStack(t)
	if env.restConfig == nil {
		t.Fatal("acceptance test stack not started: run with TF_ACC=1 through the package's TestMain (acctest.Run)")
	}
	if os.Getenv(EnvReal) != "" {
		for _, v := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_REGION", EnvMeshID} {
			if os.Getenv(v) == "" {
				t.Fatalf("%s must be set when %s=1", v, EnvReal)
			}
		}
	}
}

// ProviderConfig is the provider block for the current environment.
func ProviderConfig() string {
	if env.stack != nil {
		return env.stack.ProviderConfig()
	}
	return "provider \"asm\" {}\n"
}

// ProviderConfigUnreachableKube is a provider block whose cluster cannot be reached, for proving
// that plans which only create objects never contact it.
func ProviderConfigUnreachableKube() string {
	return `provider "asm" {
  region     = "cn-hangzhou"
  access_key = "unreachable"
  secret_key = "unreachable"
  endpoints {
    servicemesh = "127.0.0.1:1"
  }
  kubernetes {
    host  = "https://127.0.0.1:1"
    token = "unreachable"
  }
}
`
}

// ASMFake is the fake ASM API, or nil against real ASM (tests of faults and call counts skip then).
func ASMFake() *asmfake.Server {
	if env.stack == nil {
		return nil
	}
	return env.stack.ASM
}

// SkipWithoutFake skips a test that injects faults or counts calls when running against real ASM.
func SkipWithoutFake(t *testing.T) *asmfake.Server {
	t.Helper()
	requireStack(t)
	fake := ASMFake()
	if fake == nil {
		t.Skip("needs the ASM fake (fault injection, call counts); not available against real ASM")
	}
	return fake
}

// LocalModelMesh is the local stack's ModelMesh (the real controller, model-mesh's stand-in), or
// nil on a real or existing cluster.
func LocalModelMesh() *testcluster.Local {
	if env.stack == nil {
		return nil
	}
	return env.stack.Local
}

// MeshID is a mesh at a version that supports ModelMesh custom runtimes.
func MeshID() string {
	if env.stack == nil {
		return os.Getenv(EnvMeshID)
	}
	return localstack.MeshID
}

// OldMeshID is a mesh older than 1.18.0.134, or empty against real ASM unless ASM_ACC_OLD_MESH_ID is set.
func OldMeshID() string {
	if env.stack == nil {
		return os.Getenv(EnvOldMeshID)
	}
	return localstack.OldMeshID
}

// ClusterID is a cluster that can be attached to MeshID: a fresh one per call on the fake.
func ClusterID(t *testing.T) string {
	t.Helper()
	requireStack(t)
	if env.stack == nil {
		id := os.Getenv(EnvClusterID)
		if id == "" {
			t.Skipf("%s is not set", EnvClusterID)
		}
		return id
	}
	return env.stack.NewAttachableCluster(asmfake.Cluster{})
}

// NewAttachableCluster registers a cluster with the given properties on the fake (e.g. one whose
// attachment fails); it skips the test against real ASM.
func NewAttachableCluster(t *testing.T, c asmfake.Cluster) string {
	t.Helper()
	SkipWithoutFake(t)
	return env.stack.NewAttachableCluster(c)
}

// Kube is a client for the cluster the provider manages, for checks and out-of-band changes.
func Kube(t *testing.T) *kube.Client {
	t.Helper()
	return newClient(t, kube.New)
}

// Dynamic is a raw client, for out-of-band edits under another field manager.
func Dynamic(t *testing.T) dynamic.Interface {
	t.Helper()
	return newClient(t, dynamic.NewForConfig)
}

// newClient makes a client of the cluster the provider manages with newForConfig.
func newClient[C any](t *testing.T, newForConfig func(*rest.Config) (C, error)) C {
	t.Helper()
	requireStack(t)
	c, err := newForConfig(env.restConfig)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// RandomName returns a DNS-1123 name unique to this run.
func RandomName(prefix string) string {
	return strings.ToLower(prefix + "-" + acctest.RandString(8))
}

// CreateNamespace creates a fresh namespace labelled modelmesh-enabled=true, so that the ModelMesh
// controller serves it. It is left in place: deleting it would only add work while the suite runs.
func CreateNamespace(t *testing.T, prefix string) string {
	t.Helper()
	cs := newClient(t, kubernetes.NewForConfig)
	name := RandomName(prefix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"modelmesh-enabled": "true"}}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// StorageKey is the key of the storage-config Secret the fixtures' models load from.
const StorageKey = "localMinIO"

// CreateModelNamespace is CreateNamespace with the storage its models load from: the storage-config
// Secret with key StorageKey, without which model-mesh's puller fails every load
// ("Did not find storage config for key ..."). The local stack's stand-in loads any path from it.
func CreateModelNamespace(t *testing.T, prefix string) string {
	t.Helper()
	name := CreateNamespace(t, prefix)
	if err := CreateStorage(context.Background(), newClient(t, kubernetes.NewForConfig), name); err != nil {
		t.Fatal(err)
	}
	return name
}

// CreateStorage writes the storage-config Secret with key StorageKey into namespace, as a platform
// team does before models are deployed there.
func CreateStorage(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "storage-config", Namespace: namespace},
		StringData: map[string]string{StorageKey: `{"type":"s3","access_key_id":"minio","secret_access_key":"minio-secret",` +
			`"endpoint_url":"http://minio.modelmesh-serving:9000","bucket":"models","region":"us-south"}`},
	}
	if _, err := cs.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the storage-config Secret in namespace %s: %w", namespace, err)
	}
	return nil
}

// LocalCluster is the shared local cluster, for tests that need what only it offers (minting
// service-account tokens with its signing key); it skips the test on a real cluster.
func LocalCluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	requireStack(t)
	if env.stack == nil || env.stack.Cluster == nil {
		t.Skip("needs the local cluster; not available on a real or existing cluster")
	}
	return env.stack.Cluster
}

// DedicatedCluster starts a cluster with ModelMesh for one test that stops or breaks
// the apiserver, which the other tests on the shared cluster must not notice. Unlike the shared
// one it has no built-in runtimes: a test that needs them applies them. It skips the test on a
// real cluster, whose apiserver cannot be restarted on demand.
func DedicatedCluster(t *testing.T, modelMesh mmeshfake.Options) *testcluster.Local {
	t.Helper()
	LocalCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	local, err := testcluster.StartLocal(ctx, testcluster.LocalOptions{ModelMesh: modelMesh})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := local.Stop(); err != nil {
			t.Error(err)
		}
	})
	// The tests' models in ServingNamespace load from StorageKey.
	cs, err := kubernetes.NewForConfig(local.Cluster.RESTConfig())
	if err == nil {
		err = CreateStorage(ctx, cs, testcluster.ServingNamespace)
	}
	if err != nil {
		t.Fatal(err)
	}
	return local
}
