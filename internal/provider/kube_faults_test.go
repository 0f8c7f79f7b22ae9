package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// faultStack is a runtime and a model in a cluster of the test's own, whose apiserver the test
// stops, restarts or makes fail without disturbing the tests on the shared cluster.
type faultStack struct {
	local      *testcluster.Local // nil on the shared cluster
	cluster    *testcluster.Cluster
	kubeconfig string
	namespace  string
}

func newFaultStack(t *testing.T) faultStack {
	t.Helper()
	acctest.PreCheck(t)
	// Slow loads keep an update waiting long enough to restart the apiserver underneath it.
	opts := acctest.ModelMeshOptions()
	opts.SlowLoadDelay = 10 * time.Second
	local := acctest.DedicatedCluster(t, opts)
	return faultStack{local: local, cluster: local.Cluster, kubeconfig: local.KubeconfigPath, namespace: testcluster.ServingNamespace}
}

func (s faultStack) viaKubeconfig() string {
	return fmt.Sprintf("provider \"asm\" {\n  kubernetes {\n    config_path = %q\n  }\n}\n", s.kubeconfig)
}

// The names of the runtime and the model a faultStack's config holds.
const (
	faultRuntime = "mlserver-faults"
	faultModel   = "model"
)

// config is the provider block plus a runtime and a model stored at path.
func (s faultStack) config(provider, path string) string {
	runtime := acctest.Runtime{Name: faultRuntime, Namespace: s.namespace}
	return provider + runtime.HCL() + acctest.Model{Name: faultModel, Namespace: s.namespace, Runtime: runtime.NameRef(), Path: path}.HCL()
}

func (s faultStack) dynamic(t *testing.T) dynamic.Interface {
	t.Helper()
	client, err := dynamic.NewForConfig(s.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// names lists the runtimes and models in the namespace, by kind.
func (s faultStack) names(t *testing.T) (map[kube.Kind][]string, error) {
	out := map[kube.Kind][]string{}
	for _, kind := range []kube.Kind{kube.ServingRuntime, kube.InferenceService} {
		list, err := s.dynamic(t).Resource(kind.GVR).Namespace(s.namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			out[kind] = append(out[kind], item.GetName())
		}
	}
	return out, nil
}

// checkExactlyOne proves an interrupted or retried create left no duplicate and no orphan: the
// namespace holds exactly the two objects in state, by their names.
func (s faultStack) checkExactlyOne(t *testing.T) resource.TestCheckFunc {
	return func(*terraform.State) error {
		names, err := s.names(t)
		if err != nil {
			return err
		}
		if want := map[kube.Kind][]string{kube.ServingRuntime: {faultRuntime}, kube.InferenceService: {faultModel}}; !reflect.DeepEqual(names, want) {
			return fmt.Errorf("objects in the namespace: %v, want only %v", names, want)
		}
		return nil
	}
}

func (s faultStack) checkGone(t *testing.T) resource.TestCheckFunc {
	return func(*terraform.State) error {
		names, err := s.names(t)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return fmt.Errorf("left after destroy: %v", names)
		}
		return nil
	}
}

// outage is a stop and restart of the apiserver in the background; done yields once it is over.
type outage struct {
	done chan error
}

func stopAPIServer(t *testing.T, cluster *testcluster.Cluster) {
	t.Helper()
	if err := cluster.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
}

func startAPIServer(t *testing.T, cluster *testcluster.Cluster) {
	t.Helper()
	if err := cluster.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
}

// restartWhen stops the apiserver once ready reports true (polled through the admin client) and
// starts it again after downFor. The outage's done yields when it is over.
func restartWhen(cluster *testcluster.Cluster, downFor time.Duration, ready func() bool) *outage {
	o := &outage{done: make(chan error, 1)}
	go func() {
		if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, time.Minute, true,
			func(context.Context) (bool, error) { return ready(), nil }); err != nil {
			o.done <- fmt.Errorf("the moment to stop the apiserver never came: %w", err)
			return
		}
		if err := cluster.StopAPIServer(); err != nil {
			o.done <- err
			return
		}
		time.Sleep(downFor)
		o.done <- cluster.StartAPIServer()
	}()
	return o
}

// outageEnded checks, after the step, that the outage *o (set by the step's PreConfig) took place
// and the apiserver came back.
func outageEnded(o **outage) resource.TestCheckFunc {
	return func(*terraform.State) error {
		select {
		case err := <-(*o).done:
			return err
		case <-time.After(time.Minute):
			return errors.New("the outage did not end")
		}
	}
}

// TestAccKubeFaults_apiserverOutages stops the apiserver before and during an apply, during the
// READY wait of an update, during a refresh and during a destroy. Short outages are ridden out by
// retries and by the watch re-establishing itself; a lasting one fails the run with an error that
// says what to check, and leaves state such that the next run converges with no duplicate or
// orphan object.
func TestAccKubeFaults_apiserverOutages(t *testing.T) {
	s := newFaultStack(t)
	cluster := s.cluster
	provider := s.viaKubeconfig()
	var current *outage
	always := func() bool { return true }
	pathIs := func(want string) func() bool {
		client := s.dynamic(t) // here: the returned func runs on restartWhen's goroutine, where t.Fatal must not
		return func() bool {
			obj, err := client.Resource(kube.InferenceService.GVR).Namespace(s.namespace).Get(context.Background(), faultModel, metav1.GetOptions{})
			if err != nil {
				return false
			}
			path, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storage", "path")
			return path == want
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             s.checkGone(t),
		Steps: []resource.TestStep{
			{
				// Down for the whole apply: the create fails clearly and nothing is in state.
				PreConfig:   func() { stopAPIServer(t, cluster) },
				Config:      s.config(provider, "sklearn/v1/model.joblib"),
				ExpectError: expectedError(`Kubernetes API server could not be reached`),
			},
			{
				// Back up, then down again for a few seconds just as the apply starts: retried.
				PreConfig: func() {
					startAPIServer(t, cluster)
					// After so long an outage the ModelMesh controller restarts (its leader lease expired).
					if err := s.local.RestartController(context.Background()); err != nil {
						t.Fatal(err)
					}
					current = restartWhen(cluster, 3*time.Second, always)
				},
				Config: s.config(provider, "sklearn/v1/model.joblib"),
				Check:  resource.ComposeAggregateTestCheckFunc(outageEnded(&current), s.checkExactlyOne(t)),
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("active_model_state", knownvalue.StringExact("Loaded")),
				},
			},
			{
				// Down for a few seconds while the update waits for the new model: the watch resumes.
				PreConfig: func() { current = restartWhen(cluster, 3*time.Second, pathIs("slow/v2/model.joblib")) },
				Config:    s.config(provider, "slow/v2/model.joblib"),
				Check:     resource.ComposeAggregateTestCheckFunc(outageEnded(&current), s.checkExactlyOne(t)),
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("ready", knownvalue.Bool(true)),
					expectState("active_model_state", knownvalue.StringExact("Loaded")),
				},
			},
			{
				// Down during a refresh: the plan fails; nothing is dropped from state...
				PreConfig:   func() { stopAPIServer(t, cluster) },
				Config:      s.config(provider, "slow/v2/model.joblib"),
				PlanOnly:    true,
				ExpectError: expectedError(`Kubernetes API server could not be reached`),
			},
			{
				// ...as the next plan, with the apiserver back, shows: nothing to do.
				PreConfig:        func() { startAPIServer(t, cluster) },
				Config:           s.config(provider, "slow/v2/model.joblib"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				// Down for a few seconds as the destroy starts: retried; CheckDestroy finds nothing left.
				PreConfig: func() { current = restartWhen(cluster, 3*time.Second, always) },
				Config:    s.config(provider, "slow/v2/model.joblib"),
				Destroy:   true,
				Check:     outageEnded(&current),
			},
		},
	})
}

// isRequest matches requests by method and by the resource named in the path.
func isRequest(method, resource string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == method && strings.Contains(r.URL.Path, "/"+resource)
	}
}

// checkServed proves each fault was really hit as many times as it allows: the apply succeeded by
// retrying, not by missing the fault.
func checkServed(proxy *testcluster.Proxy, faults ...*testcluster.Fault) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, f := range faults {
			if served := proxy.Served(f); served != f.Times {
				return fmt.Errorf("fault %d was served %d times, want %d", f.Code, served, f.Times)
			}
		}
		return nil
	}
}

// TestAccKubeFaults_apiserverErrorsRetried makes the apiserver answer 429, 500, 503 and 504 (through
// a proxy that answers as it would): a few are retried and the apply succeeds; a 500 that persists
// fails the refresh with the apiserver's message and drops nothing from state.
func TestAccKubeFaults_apiserverErrorsRetried(t *testing.T) {
	s := newFaultStack(t)
	proxy, err := testcluster.StartProxy(s.cluster.RESTConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proxy.Close(); err != nil {
			t.Error(err)
		}
	})
	provider := fmt.Sprintf("provider \"asm\" {\n  kubernetes {\n    host = %q\n  }\n}\n", proxy.URL)
	// Server-side apply is a PATCH; the READY wait lists and watches (GETs).
	transient := []*testcluster.Fault{
		{Match: isRequest(http.MethodPatch, "servingruntimes"), Code: http.StatusInternalServerError, Times: 2},
		{Match: isRequest(http.MethodPatch, "inferenceservices"), Code: http.StatusServiceUnavailable, Times: 2},
		{Match: isRequest(http.MethodGet, "inferenceservices"), Code: http.StatusTooManyRequests, Times: 2},
		{Match: isRequest(http.MethodGet, "inferenceservices"), Code: http.StatusGatewayTimeout, Times: 1},
	}
	persistent := &testcluster.Fault{Match: isRequest(http.MethodGet, "inferenceservices"), Code: http.StatusInternalServerError, Times: 1000}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             s.checkGone(t),
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					for _, f := range transient {
						proxy.Inject(f)
					}
				},
				Config:            s.config(provider, "sklearn/v1/model.joblib"),
				Check:             resource.ComposeAggregateTestCheckFunc(checkServed(proxy, transient...), s.checkExactlyOne(t)),
				ConfigStateChecks: []statecheck.StateCheck{expectState("active_model_state", knownvalue.StringExact("Loaded"))},
			},
			{
				PreConfig:   func() { proxy.Inject(persistent) },
				Config:      s.config(provider, "sklearn/v1/model.joblib"),
				PlanOnly:    true,
				ExpectError: expectedError(`Internal error occurred: etcdserver: request timed out`),
			},
			{
				PreConfig:        func() { proxy.ClearFaults() },
				Config:           s.config(provider, "sklearn/v1/model.joblib"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// TestAccKubeFaults_rejectedToken uses bearer tokens of a service account bound to cluster-admin:
// a wrong one and an expired one (correctly signed) fail with an error naming the setting to fix
// and create nothing; a current one, minted the same way, works.
func TestAccKubeFaults_rejectedToken(t *testing.T) {
	acctest.PreCheck(t)
	cluster := acctest.LocalCluster(t)
	namespace := acctest.CreateModelNamespace(t, "token")
	ctx := context.Background()
	admin := kubernetes.NewForConfigOrDie(cluster.RESTConfig())
	sa, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "terraform"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "terraform-" + namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: sa.Name}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(expiry time.Time) string {
		token, err := cluster.ServiceAccountToken(namespace, sa.Name, string(sa.UID), expiry)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	s := faultStack{cluster: cluster, namespace: namespace}
	provider := func(token string) string {
		cfg := cluster.RESTConfig()
		return fmt.Sprintf("provider \"asm\" {\n  kubernetes {\n    host                   = %q\n    cluster_ca_certificate = %q\n    token                  = %q\n  }\n}\n",
			cfg.Host, cfg.CAData, token)
	}
	rejected := expectedError(`401 Unauthorized[\s\S]*kubernetes\.token`)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             s.checkGone(t),
		Steps: []resource.TestStep{
			{Config: s.config(provider("not-a-token"), "sklearn/model.joblib"), ExpectError: rejected},
			{Config: s.config(provider(token(time.Now().Add(-time.Minute))), "sklearn/model.joblib"), ExpectError: rejected},
			{
				Config:            s.config(provider(token(time.Now().Add(time.Hour))), "sklearn/model.joblib"),
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true))},
			},
		},
	})
}
