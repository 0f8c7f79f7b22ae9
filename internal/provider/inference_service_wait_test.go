package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// The wait under the statuses the real ModelMesh controller writes when a model cannot load for
// reasons outside the InferenceService: runtime Pods that cannot run, a namespace it does not
// serve, a model it unloaded.

var (
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	podGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// stuckRuntimeTest applies a model whose runtime's Pods cannot run (the runtime's container has
// image; nodeSelector, when set, matches no Node), and expects the apply to fail well before its
// timeout, naming the Pod and what to run.
func stuckRuntimeTest(t *testing.T, image string, nodeSelector map[string]any, pattern string) {
	requireLocalModelMesh(t)
	namespace := acctest.CreateModelNamespace(t, "stuck")
	tc := isvcTest{namespace: namespace, name: acctest.RandomName("model"), runtime: "stuck-runtime"}
	rt := testRuntime(namespace, tc.runtime, "sklearn")
	if err := unstructured.SetNestedSlice(rt.Object, []any{map[string]any{"name": "mlserver", "image": image}}, "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	if nodeSelector != nil {
		if err := unstructured.SetNestedMap(rt.Object, nodeSelector, "spec", "nodeSelector"); err != nil {
			t.Fatal(err)
		}
	}
	createRuntimeObject(t, rt)
	runtime := fmt.Sprintf("  runtime = %q\n", tc.runtime)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				// A timeout says what it last saw of the runtime. 30s ends the wait before stuckGrace can: the
				// first look is inspectInterval after the wait starts.
				Config:      tc.config("sklearn/mnist-svm.joblib", runtime+`  timeouts { create = "30s" }`),
				ExpectError: errorPattern(`Timed out waiting.*Last failure: RuntimeUnhealthy.*Runtime Pods last seen:\s+- runtime "` + tc.runtime + `"`),
			},
			{
				// The long timeout is never reached: the wait ends once the Pods have been stuck for
				// stuckGrace.
				Config:      tc.config("sklearn/mnist-svm.joblib", runtime+`  timeouts { create = "4m" }`),
				ExpectError: errorPattern(`The runtime of InferenceService "` + tc.name + `".*cannot run.*RuntimeUnhealthy.*` + pattern),
			},
		},
	})
}

func TestAccInferenceService_runtimeImageNeverPulls(t *testing.T) {
	stuckRuntimeTest(t, testcluster.ImageNeverPulls, nil, `pod modelmesh-serving-stuck-runtime-\S+, container mlserver: (ErrImagePull|ImagePullBackOff):.*`+
		regexp.QuoteMeta(testcluster.ImageNeverPulls)+`.*image_pull_secrets.*kubectl describe pod -n \S+ modelmesh-serving-stuck-runtime-`)
}

func TestAccInferenceService_runtimeFailsAtStart(t *testing.T) {
	stuckRuntimeTest(t, testcluster.ImageFailsAtStart, nil, `container mlserver: CrashLoopBackOff:.*last exit code 1.*kubectl logs -n \S+ modelmesh-serving-stuck-runtime-\S+ -c mlserver --previous`)
}

func TestAccInferenceService_runtimeUnschedulable(t *testing.T) {
	stuckRuntimeTest(t, "mlserver:test", map[string]any{"example.com/gpu": "a100"}, `pod modelmesh-serving-stuck-runtime-\S+: Unschedulable: 0/2 nodes are available.*node_selector`)
}

// labelNamespace sets (or, with value "", removes) the modelmesh-enabled label.
func labelNamespace(t *testing.T, namespace, value string) {
	t.Helper()
	label := fmt.Sprintf("%q", value)
	if value == "" {
		label = "null" // a merge patch removes a key set to null
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, modelMeshEnabledLabel, label)
	if _, err := acctest.Dynamic(t).Resource(namespaceGVR).Patch(t.Context(), namespace, k8stypes.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestAccInferenceService_namespaceNotServed(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	labelNamespace(t, tc.namespace, "false")
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				// Refused before anything is created.
				Config: tc.config("sklearn/mnist-svm.joblib", ""),
				ExpectError: errorPattern(`ModelMesh does not serve this namespace.*labelled modelmesh-enabled="false".*kubectl label namespace ` +
					tc.namespace + ` modelmesh-enabled=true --overwrite`),
			},
			{
				// Nothing was left behind. Without the label, the namespace may be the controller's own:
				// the apply goes ahead, and the wait fails once the controller has written nothing.
				PreConfig: func() {
					if _, err := acctest.Kube(t).Get(t.Context(), tc.ref()); !kube.IsNotFound(err) {
						t.Errorf("the refused create left an InferenceService behind (err %v)", err)
					}
					labelNamespace(t, tc.namespace, "")
				},
				Config: tc.config("sklearn/mnist-svm.joblib", ""),
				ExpectError: errorPattern(`ModelMesh does not serve namespace "` + tc.namespace + `".*wrote no status.*lacks the label ` +
					`modelmesh-enabled=true.*kubectl label namespace ` + tc.namespace),
			},
			{
				// Labelled, the tainted model is replaced and loads.
				PreConfig:         func() { labelNamespace(t, tc.namespace, "true") },
				Config:            tc.config("sklearn/mnist-svm.joblib", ""),
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true))},
			},
		},
	})
}

// TestAccInferenceService_standby: a model ModelMesh unloaded (its runtime's Pods went away) stays
// in Standby until it is used. Turning the wait on starts no load, so the wait takes Standby
// instead of timing out.
func TestAccInferenceService_standby(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	runtime := fmt.Sprintf("  runtime = %q\n", tc.runtime)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config: tc.config("sklearn/mnist-svm.joblib", runtime+"  wait_for_ready = false\n"),
			},
			{
				PreConfig: func() { unloadModel(t, tc) },
				Config:    tc.config("sklearn/mnist-svm.joblib", runtime+`  timeouts { update = "60s" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
					expectUnknown("ready"),
					expectPlanned("transition_status", knownvalue.StringExact("UpToDate")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("active_model_state", knownvalue.StringExact("Standby")),
					expectState("transition_status", knownvalue.StringExact("UpToDate")),
				},
			},
			{
				Config:   tc.config("sklearn/mnist-svm.joblib", runtime+`  timeouts { update = "60s" }`),
				PlanOnly: true,
			},
		},
	})
}

// unloadModel waits for the model to load, deletes its runtime's Pods, and waits until ModelMesh
// shows it in Standby.
func unloadModel(t *testing.T, tc isvcTest) {
	t.Helper()
	client := acctest.Kube(t)
	state := func(want string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			obj, err := client.Get(ctx, tc.ref())
			if err != nil {
				return false, err
			}
			return statusOf(obj).ActiveModelState.ValueString() == want, nil
		})
		if err != nil {
			t.Fatalf("waiting for activeModelState %s: %v", want, err)
		}
	}
	state(modelStateLoaded)
	pods := acctest.Dynamic(t).Resource(podGVR).Namespace(tc.namespace)
	if err := pods.DeleteCollection(t.Context(), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=modelmesh-controller"}); err != nil {
		t.Fatal(err)
	}
	state(modelStateStandby)
}

// TestAccInferenceService_noRuntimeWhileScaledToZero: with no runtime Pod running in the namespace
// (ScaleToZero), ModelMesh cannot say that no runtime fits: it reports RuntimeUnhealthy, waiting for
// a Pod that no runtime will start. The wait tells the cause instead of timing out.
func TestAccInferenceService_noRuntimeWhileScaledToZero(t *testing.T) {
	requireLocalModelMesh(t)
	tc := isvcTest{namespace: acctest.CreateNamespace(t, "cold"), name: acctest.RandomName("model")}
	format := acctest.RandomName("format")
	config := func(body string) string {
		return acctest.ProviderConfig() + fmt.Sprintf(`
resource "asm_inference_service" "test" {
  name      = %q
  namespace = %q
  model_format { name = %q }
  storage_uri = "s3://models/model.joblib"
  timeouts { create = "3m" }
%s}
`, tc.name, tc.namespace, format, body)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config: config(""),
				ExpectError: errorPattern(`No runtime can serve InferenceService "` + tc.name + `".*RuntimeUnhealthy.*No runtime is set.*model format "` +
					format + `" with auto_select = true`),
			},
			{
				Config:      config(`  runtime = "missing-runtime"` + "\n"),
				ExpectError: errorPattern(`No runtime can serve.*Check that runtime "missing-runtime" exists`),
			},
		},
	})
}

// TestAccInferenceService_protocolNoRuntimeServes: the namespace's runtime auto-selects sklearn but
// serves grpc-v2 (and v2 through the REST proxy) only; a model asking for v1 matches no runtime,
// which ModelMesh cannot say while the runtime is scaled to zero.
func TestAccInferenceService_protocolNoRuntimeServes(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{{
			Config: tc.config("sklearn/mnist-svm.joblib", `  protocol_version = "v1"`+"\n"+`  timeouts { create = "3m" }`),
			ExpectError: errorPattern(`No runtime can serve.*model format "sklearn" version "0" with auto_select = true and protocol "v1" ` +
				`in protocol_versions`),
		}},
	})
}

// TestAccInferenceService_runtimeNotDeployed: the controller does not deploy a runtime with a
// readiness probe (controllers/servingruntime_validator.go), and says so only in its log; the
// model waits on RuntimeUnhealthy. The wait names the runtime that has no Deployment.
func TestAccInferenceService_runtimeNotDeployed(t *testing.T) {
	requireLocalModelMesh(t)
	namespace := acctest.CreateModelNamespace(t, "undeployed")
	tc := isvcTest{namespace: namespace, name: acctest.RandomName("model"), runtime: "refused-runtime"}
	rt := testRuntime(namespace, tc.runtime, "sklearn")
	container := map[string]any{"name": "mlserver", "image": "mlserver:test",
		"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": int64(8001)}}}
	if err := unstructured.SetNestedSlice(rt.Object, []any{container}, "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	createRuntimeObject(t, rt)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{{
			Config: tc.config("sklearn/mnist-svm.joblib", fmt.Sprintf("  runtime = %q\n  timeouts { create = \"3m\" }\n", tc.runtime)),
			ExpectError: errorPattern(`The runtime of InferenceService "` + tc.name + `".*cannot run.*runtime "refused-runtime": no Deployment in ` +
				`namespace "` + namespace + `": the ModelMesh controller does not deploy it.*readiness probe`),
		}},
	})
}

// statusLog keeps every status written to one InferenceService, to show what a wait rode out.
type statusLog struct {
	mu   sync.Mutex
	seen []inferenceServiceStatus
}

// watchStatuses records the statuses of tc's InferenceService from now until the test ends.
func watchStatuses(t *testing.T, tc isvcTest) *statusLog {
	t.Helper()
	return watchStatusesWith(t, acctest.Dynamic(t), tc.namespace, tc.name)
}

// watchStatusesWith is watchStatuses for an InferenceService of any cluster.
func watchStatusesWith(t *testing.T, client dynamic.Interface, namespace, name string) *statusLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.Resource(kube.InferenceService.GVR).Namespace(namespace).Watch(ctx,
		metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	l := &statusLog{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for event := range w.ResultChan() {
			if obj, ok := event.Object.(*unstructured.Unstructured); ok {
				l.mu.Lock()
				l.seen = append(l.seen, statusOf(obj))
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return l
}

// saw returns an error unless some recorded status matched.
func (l *statusLog) saw(what string, match func(inferenceServiceStatus) bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.seen {
		if match(s) {
			return nil
		}
	}
	var described []string
	for _, s := range l.seen {
		described = append(described, describeStatus(s))
	}
	return fmt.Errorf("no status with %s among the %d written:\n%s", what, len(l.seen), strings.Join(described, "\n"))
}

// waitReadyRuntimePods waits until the runtime of tc has n ready Pods.
func waitReadyRuntimePods(t *testing.T, tc isvcTest, n int) {
	t.Helper()
	client := acctest.Kube(t)
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		deployed, err := client.RuntimeDeployments(ctx, tc.namespace)
		if err != nil || deployed[tc.runtime] == nil {
			return false, err
		}
		ready := 0
		for i := range deployed[tc.runtime].Pods {
			if kube.PodReady(&deployed[tc.runtime].Pods[i]) {
				ready++
			}
		}
		return ready == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d ready Pods of runtime %s: %v", n, tc.runtime, err)
	}
}

// warmRuntime prepares a test on tc's runtime with both of its Pods up (podsPerRuntime): it
// returns the runtime argument, a model already served there ("warm", which keeps the Pods up), the
// step applying that model, and a PreConfig for the next step that waits for both Pods and then
// records tc's statuses into *statuses.
func warmRuntime(t *testing.T, tc isvcTest, statuses **statusLog) (runtime, warm string, step resource.TestStep, watch func()) {
	runtime = fmt.Sprintf("  runtime = %q\n", tc.runtime)
	warm = tc.block("warm", acctest.RandomName("warm"), "sklearn/mnist-svm.joblib", runtime)
	watch = func() {
		waitReadyRuntimePods(t, tc, 2)
		*statuses = watchStatuses(t, tc)
	}
	return runtime, warm, resource.TestStep{Config: acctest.ProviderConfig() + warm}, watch
}

// TestAccInferenceService_failedLoadIsRetried: ModelMesh records a failed load and then retries it in
// another runtime Pod (CacheEntry.failed); meanwhile the controller reports FailedToLoad. The apply
// rides that out and ends Loaded. Once the load has failed in both Pods, the apply fails with
// ModelMesh's message, and says that no Pod is left to try.
func TestAccInferenceService_failedLoadIsRetried(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	// A retry while the second Pod is still starting would have nowhere to go.
	var statuses *statusLog
	runtime, warm, warmStep, watch := warmRuntime(t, tc, &statuses)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			warmStep,
			{
				PreConfig: watch,
				Config:    tc.config(acctest.FailOncePathMarker+"model.joblib", runtime) + warm,
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("active_model_state", knownvalue.StringExact("Loaded")),
					expectState("failed_copies", knownvalue.Int64Exact(1)),
					expectState("total_copies", knownvalue.Int64Exact(2)),
				},
				Check: func(*terraform.State) error {
					return statuses.saw("FailedToLoad: ModelLoadFailed", func(s inferenceServiceStatus) bool {
						return s.ActiveModelState.ValueString() == modelStateFailedToLoad && s.LastFailureReason.ValueString() == "ModelLoadFailed"
					})
				},
			},
			{
				Config: tc.config(acctest.FailPathMarker+"v2.joblib", runtime) + warm,
				ExpectError: errorPattern(`failed to load its model.*targetModelState="FailedToLoad".*ModelLoadFailed: Failed to load Model ` +
					`due to adapter error: Error calling stat on /models/\S+/v2.joblib: .*no such file or directory.*` +
					`The load failed in 2 of the 2 ready runtime Pods that may load the model`),
			},
		},
	})
}

// TestAccInferenceService_readyBeforeLoaded: the controller marks a model Ready while it is still
// Loading (a Loading predictor counts as available: predictor_controller.go
// updatePredictorStatusFromVModel). The apply waits for Loaded: right after it, the live object is
// Loaded, though the load takes seconds.
func TestAccInferenceService_readyBeforeLoaded(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	// With the runtime's Pods up before the model: a model that scales its runtime from zero keeps
	// the RuntimeUnhealthy failure, and Ready False, while it loads (TestRuntimeRecovers).
	var statuses *statusLog
	runtime, warm, warmStep, watch := warmRuntime(t, tc, &statuses)
	path := acctest.LoadTimeSegment(5*time.Second) + "model.joblib"
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			warmStep,
			{
				PreConfig: watch,
				Config:    tc.config(path, runtime) + warm,
				Check: resource.ComposeAggregateTestCheckFunc(
					tc.checkLive(t, loadedWithPath(path)),
					func(*terraform.State) error {
						return statuses.saw("Ready while Loading", func(s inferenceServiceStatus) bool {
							return s.Ready.ValueBool() && s.ActiveModelState.ValueString() == "Loading"
						})
					},
				),
			},
		},
	})
}

// TestAccInferenceService_loadTimesOut: model-mesh fails a load that outlasts the runtime's loading
// timeout (builtInAdapter.modelLoadingTimeoutMillis), in each Pod it tries. The apply fails soon
// after, with model-mesh's message, and names that timeout rather than timeouts.create.
func TestAccInferenceService_loadTimesOut(t *testing.T) {
	requireLocalModelMesh(t)
	namespace := acctest.CreateModelNamespace(t, "timeout")
	tc := isvcTest{namespace: namespace, name: acctest.RandomName("model"), runtime: "slow-loading"}
	rt := testRuntime(namespace, tc.runtime, "sklearn")
	if err := unstructured.SetNestedField(rt.Object, int64(3000), "spec", "builtInAdapter", "modelLoadingTimeoutMillis"); err != nil {
		t.Fatal(err)
	}
	createRuntimeObject(t, rt)
	var started time.Time
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				PreConfig: func() { started = time.Now() },
				Config:    tc.config(acctest.LoadTimeSegment(time.Hour)+"model.joblib", fmt.Sprintf("  runtime = %q\n", tc.runtime)),
				ExpectError: errorPattern(`failed to load its model.*ModelLoadFailed: java.util.concurrent.TimeoutException: Load of model ` +
					`\S+ timed out after 3sec.*loading timeout of runtime "` + tc.runtime + `".*model_loading_timeout_millis.*` +
					`not this resource's timeouts`),
			},
			{
				PreConfig: func() {
					if elapsed := time.Since(started); elapsed > 2*time.Minute {
						t.Fatalf("the timed-out load failed the apply after %s", elapsed)
					}
				},
				Config:             tc.config(acctest.LoadTimeSegment(time.Hour)+"model.joblib", fmt.Sprintf("  runtime = %q\n", tc.runtime)),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

// TestAccInferenceService_storageKeyMissing: model-mesh's puller fails a load whose storage key the
// namespace's storage-config Secret lacks. The apply fails with its message and names the key, the
// Secret and asm_model_storage; created as the hint says, the storage lets the model load.
func TestAccInferenceService_storageKeyMissing(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	model := func(key string) string {
		return acctest.Model{Name: tc.name, Namespace: tc.namespace, Runtime: fmt.Sprintf("%q", tc.runtime),
			Format: acctest.Format{Name: "sklearn", Version: "0"}, StorageKey: key, Path: "sklearn/mnist-svm.joblib"}.HCL()
	}
	storage := acctest.Storage{Label: "other", Name: "otherMinIO", Namespace: tc.namespace}.HCL()
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + model(`"otherMinIO"`),
				ExpectError: errorPattern(`failed to load its model.*ModelLoadFailed: Did not find storage config for key otherMinIO.*` +
					`The storage key "otherMinIO" is not in the Secret storage-config of namespace "` + tc.namespace + `".*` +
					`asm_model_storage \(name = "otherMinIO"`),
			},
			{
				Config:            acctest.ProviderConfig() + storage + model("asm_model_storage.other.name"),
				ConfigStateChecks: []statecheck.StateCheck{expectState("active_model_state", knownvalue.StringExact("Loaded"))},
			},
		},
	})
}

// TestAccInferenceService_typeConstraintsArriveLate: a runtime and its model applied beside a
// runtime whose Pods already run (kserve/modelmesh-serving issue 352). The controller adds the new
// runtime's type to the type-constraints ConfigMap at once, but the running model-mesh containers
// read the kubelet's projection of it, refreshed later (5 s here, about a minute on a cluster):
// until then ModelMesh reports the model RuntimeNotRecognized, and loads it at its reaper's next
// run (every 3 s here, 7 minutes on a cluster). The apply waits that out and ends Loaded.
func TestAccInferenceService_typeConstraintsArriveLate(t *testing.T) {
	acctest.PreCheck(t)
	modelMesh := acctest.ModelMeshOptions()
	modelMesh.TypeConstraintsRefresh = 5 * time.Second
	modelMesh.ReaperFirst, modelMesh.ReaperPeriod = 3*time.Second, 3*time.Second
	local := acctest.DedicatedCluster(t, modelMesh)
	stack := faultStack{local: local, cluster: local.Cluster, kubeconfig: local.KubeconfigPath, namespace: testcluster.ServingNamespace}
	first := acctest.Runtime{Label: "first", Name: "runtime-first", Namespace: stack.namespace}
	added := acctest.Runtime{Label: "added", Name: "runtime-added", Namespace: stack.namespace}
	firstModel := acctest.Model{Label: "first", Name: "model-first", Namespace: stack.namespace, Runtime: first.NameRef(), Path: "sklearn/first.joblib"}
	addedModel := acctest.Model{Label: "added", Name: "model-added", Namespace: stack.namespace, Runtime: added.NameRef(), Path: "sklearn/added.joblib"}
	before := stack.viaKubeconfig() + first.HCL() + firstModel.HCL()
	var statuses *statusLog
	ready := func(m acctest.Model) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(m.Address(), tfjsonpath.New("ready"), knownvalue.Bool(true))
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             stack.checkGone(t),
		Steps: []resource.TestStep{
			{Config: before, ConfigStateChecks: []statecheck.StateCheck{ready(firstModel)}},
			{
				PreConfig: func() { statuses = watchStatusesWith(t, stack.dynamic(t), stack.namespace, addedModel.Name) },
				Config:    before + added.HCL() + addedModel.HCL(),
				ConfigStateChecks: []statecheck.StateCheck{
					ready(addedModel),
					statecheck.ExpectKnownValue(addedModel.Address(), tfjsonpath.New("active_model_state"), knownvalue.StringExact(modelStateLoaded)),
				},
				// Without that failure the wait was not tested.
				Check: func(*terraform.State) error {
					return statuses.saw("RuntimeNotRecognized", func(s inferenceServiceStatus) bool {
						return s.LastFailureReason.ValueString() == "RuntimeNotRecognized"
					})
				},
			},
		},
	})
}

// TestAccInferenceService_noStorageConfigSecret: the runtime's Pods run on a real kubelet's Node
// (internal/testnode), in a namespace without the storage-config Secret that every ModelMesh runtime
// Pod mounts. The kubelet cannot mount it, so the Pods stay ContainerCreating, which is also how
// any starting Pod looks: only the kubelet's FailedMount events tell. The apply fails once that has
// lasted stuckGrace, naming the Secret and asm_model_storage, not at its 10-minute timeout.
func TestAccInferenceService_noStorageConfigSecret(t *testing.T) {
	acctest.PreCheck(t)
	local := acctest.DedicatedCluster(t, acctest.ModelMeshOptions())
	node := acctest.RealNode(t, local.Cluster)
	stack := faultStack{local: local, cluster: local.Cluster, kubeconfig: local.KubeconfigPath, namespace: testcluster.ServingNamespace}
	cs, err := kubernetes.NewForConfig(local.Cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Secrets(stack.namespace).Delete(t.Context(), "storage-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rt := acctest.Runtime{
		Label: "real", Name: "runtime-real-node", Namespace: stack.namespace,
		Extra: fmt.Sprintf("  node_selector = { %q = %q }", corev1.LabelHostname, node.Name),
	}
	model := acctest.Model{
		Label: "unstored", Name: "model-unstored", Namespace: stack.namespace, Runtime: rt.NameRef(), Path: "sklearn/mnist-svm.joblib",
		Extra: `  timeouts { create = "10m" }`,
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             stack.checkGone(t),
		Steps: []resource.TestStep{{
			Config: stack.viaKubeconfig() + rt.HCL() + model.HCL(),
			ExpectError: errorPattern(`The runtime of InferenceService "` + model.Name + `".*cannot run.*pod modelmesh-serving-` + rt.Name +
				`-\S+: FailedMount: MountVolume.SetUp failed for volume "storage-config" : secret "storage-config" not found.*` +
				`Namespace "` + stack.namespace + `" has no storage-config Secret.*asm_model_storage`),
		}},
	})
}
