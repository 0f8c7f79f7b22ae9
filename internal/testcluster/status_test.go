package testcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Tests of the stack itself: given a situation, the status that appears on the InferenceService is
// the one the real ModelMesh Serving controller (v0.12.0) writes. Each names the controller code
// that decides it.

var (
	inferenceServicesResource = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	servingRuntimesResource   = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"}
)

// statusTimeout bounds each wait for the controller: a runtime scaled up from zero, its Pods
// scheduled and made ready, the controller's resolver and a load.
const statusTimeout = 2 * time.Minute

// servingRuntimeYAML is a multi-model runtime after the upstream mlserver-1.x sample
// (modelmesh-serving config/runtimes/mlserver-1.x.yaml), with the given container image.
func servingRuntimeYAML(name, image string) string {
	return fmt.Sprintf(`
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: %s
spec:
  supportedModelFormats:
    - {name: sklearn, version: "0", autoSelect: true}
  protocolVersions: [grpc-v2]
  multiModel: true
  grpcEndpoint: "port:8085"
  grpcDataEndpoint: "port:8001"
  containers:
    - name: mlserver
      image: %s
      resources:
        requests: {cpu: 500m, memory: 1Gi}
        limits: {cpu: "5", memory: 1Gi}
  builtInAdapter:
    serverType: mlserver
    runtimeManagementPort: 8001
    memBufferBytes: 134217728
    modelLoadingTimeoutMillis: 90000
`, name, image)
}

// inferenceServiceYAML is a ModelMesh InferenceService of an sklearn model at storageUri, with
// extra lines under spec.predictor.model (e.g. "runtime: x").
func inferenceServiceYAML(name, storageURI, extra string) string {
	return fmt.Sprintf(`
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: %s
  annotations:
    serving.kserve.io/deploymentMode: ModelMesh
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: %s
%s`, name, storageURI, indent(extra, "      "))
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func dynamicClient(t *testing.T) dynamic.Interface {
	t.Helper()
	return dynamic.NewForConfigOrDie(local.Cluster.RESTConfig())
}

// newNamespace creates a fresh namespace, labelled modelmesh-enabled=true when enabled.
func newNamespace(t *testing.T, enabled bool) string {
	t.Helper()
	name := "stack-" + rand.String(6)
	labels := map[string]string{}
	if enabled {
		labels["modelmesh-enabled"] = "true"
	}
	if err := local.Cluster.CreateNamespace(t.Context(), name, labels); err != nil {
		t.Fatal(err)
	}
	return name
}

func create(t *testing.T, gvr schema.GroupVersionResource, namespace, manifest string) {
	t.Helper()
	if err := createFromYAML(t.Context(), t, gvr, namespace, manifest); err != nil {
		t.Fatal(err)
	}
}

// createFromYAML creates the object of manifest and returns the apiserver's refusal.
func createFromYAML(ctx context.Context, t *testing.T, gvr schema.GroupVersionResource, namespace, manifest string) error {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		return err
	}
	if _, err := dynamicClient(t).Resource(gvr).Namespace(namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create %s %s/%s: %w", gvr.Resource, namespace, obj.GetName(), err)
	}
	return nil
}

// TestWebhookRefusesWhatAClusterRefuses: the controller's ServingRuntime webhook is registered as
// upstream's install registers it, so a runtime a cluster refuses is refused here, with the
// webhook's words (apis/serving/v1alpha1/servingruntime_webhook.go validateAutoScalingReplicas).
func TestWebhookRefusesWhatAClusterRefuses(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	both := strings.Replace(servingRuntimeYAML("hpa-and-replicas", "seldonio/mlserver:1.3.2"), "spec:\n",
		"  annotations:\n    serving.kserve.io/autoscalerClass: hpa\nspec:\n  replicas: 2\n", 1)
	if !strings.Contains(both, "autoscalerClass") {
		t.Fatal("the runtime manifest has no spec line to add to")
	}
	err := createFromYAML(t.Context(), t, servingRuntimesResource, ns, both)
	const want = "Autoscaler is enabled and also replicas variable set. You can not set both."
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "denied the request") {
		t.Errorf("runtime with an autoscaler and replicas: %v, want the webhook's denial %q", err, want)
	}
}

func getISVC(ctx context.Context, t *testing.T, namespace, name string) (*unstructured.Unstructured, error) {
	return dynamicClient(t).Resource(inferenceServicesResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}

// waitForStatus waits until the InferenceService's status satisfies ok, and returns the object.
func waitForStatus(t *testing.T, namespace, name, want string, ok func(status map[string]any) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, statusTimeout, true, func(ctx context.Context) (bool, error) {
		isvc, err := getISVC(ctx, t, namespace, name)
		if err != nil {
			return false, nil //nolint:nilerr // a failed read is retried until the bound
		}
		last = isvc
		status, _, _ := unstructured.NestedMap(isvc.Object, "status")
		return ok(status), nil
	})
	if err != nil {
		var status any
		if last != nil {
			status = last.Object["status"]
		}
		t.Fatalf("InferenceService %s/%s: waiting for %s: %v; last status: %v", namespace, name, want, err, status)
	}
	return last
}

func statusMap(obj *unstructured.Unstructured) map[string]any {
	status, _, _ := unstructured.NestedMap(obj.Object, "status")
	return status
}

func str(status map[string]any, fields ...string) string {
	s, _, _ := unstructured.NestedString(status, fields...)
	return s
}

// condition returns the condition of the given type, or nil.
func condition(status map[string]any, conditionType string) map[string]any {
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	for _, c := range conditions {
		if m, _ := c.(map[string]any); m["type"] == conditionType {
			return m
		}
	}
	return nil
}

func activeState(status map[string]any) string {
	return str(status, "modelStatus", "states", "activeModelState")
}

func failureReason(status map[string]any) string {
	return str(status, "modelStatus", "lastFailureInfo", "reason")
}

// TestModelLoading: while a model loads on a runtime that is already up, Ready and PredictorReady
// are already True, with neither reason nor message, transitionStatus is already UpToDate, and
// nothing writes status.observedGeneration (predictor_controller.go updatePredictorStatusFromVModel:
// Available = active state not empty, not FailedToLoad, not waiting for the runtime; a first model is
// both active and target, so model-mesh reports the vmodel DEFINED, VModelManager.statusFromRecord,
// mapped to UpToDate; inferenceservice_registry.go UpdateStatus marks PredictorReady and nothing
// else). The status is the controller's own write.
func TestModelLoading(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	// The runtime is scaled from zero by its first model (ScaleToZero); a model created before its
	// Pods are up keeps the RuntimeUnhealthy failure while it loads (TestRuntimeRecovers).
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("warm", "s3://models/model.joblib", ""))
	waitForStatus(t, ns, "warm", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("loading", "s3://models/"+slowMarker+"model.joblib", ""))

	isvc := waitForStatus(t, ns, "loading", "activeModelState Loading", func(s map[string]any) bool { return activeState(s) == "Loading" })
	status, _, _ := unstructured.NestedMap(isvc.Object, "status")
	for _, conditionType := range []string{"Ready", "PredictorReady"} {
		c := condition(status, conditionType)
		if c == nil || c["status"] != "True" {
			t.Errorf("%s while Loading = %v, want True", conditionType, c)
		}
		if c["reason"] != nil || c["message"] != nil {
			t.Errorf("%s carries reason %v, message %v; the controller writes neither", conditionType, c["reason"], c["message"])
		}
	}
	if _, found := status["observedGeneration"]; found {
		t.Errorf("status.observedGeneration = %v; the controller never writes it", status["observedGeneration"])
	}
	if got := str(status, "modelStatus", "transitionStatus"); got != "UpToDate" {
		t.Errorf("transitionStatus = %q, want UpToDate", got)
	}
	if !managedByController(isvc) {
		t.Errorf("managedFields %v: no status entry by %s", isvc.GetManagedFields(), ControllerManager)
	}
}

// TestRuntimeRecovers: a model whose runtime has no ready Pod is RuntimeUnhealthy, Ready False.
// When the runtime is fixed the model loads, and the controller keeps that failure meanwhile
// ("Retain last failure info if we are back in a Loading state", updatePredictorStatusFromVModel),
// so Ready stays False while it loads; once Loaded the failure is cleared and Ready turns True. The
// same happens to the first model of a runtime scaled to zero (ScaleToZero, on by default) whenever
// the controller reconciles it before the runtime's Pods are up.
func TestRuntimeRecovers(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", ImageNeverPulls))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("slow", "s3://models/"+slowMarker+"model.joblib", ""))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("recovers", "s3://models/model.joblib", ""))
	for _, name := range []string{"slow", "recovers"} {
		waitForStatus(t, ns, name, "reason RuntimeUnhealthy", func(s map[string]any) bool { return failureReason(s) == "RuntimeUnhealthy" })
	}

	fix := `{"spec":{"containers":[{"name":"mlserver","image":"seldonio/mlserver:1.3.2",` +
		`"resources":{"requests":{"cpu":"500m","memory":"1Gi"},"limits":{"cpu":"5","memory":"1Gi"}}}]}}`
	if _, err := dynamicClient(t).Resource(servingRuntimesResource).Namespace(ns).Patch(t.Context(), "mlserver-1.x",
		types.MergePatchType, []byte(fix), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	isvc := waitForStatus(t, ns, "slow", "a copy loading", func(s map[string]any) bool {
		copies, _, _ := unstructured.NestedInt64(s, "modelStatus", "copies", "totalCopies")
		return copies > 0
	})
	status, _, _ := unstructured.NestedMap(isvc.Object, "status")
	if c := condition(status, "Ready"); activeState(status) != "Loading" || c == nil || c["status"] != "False" || failureReason(status) != "RuntimeUnhealthy" {
		t.Errorf("loading once the runtime is up: %s, Ready %v, lastFailureInfo.reason %q; want Loading, False and the kept RuntimeUnhealthy",
			activeState(status), c, failureReason(status))
	}
	isvc = waitForStatus(t, ns, "recovers", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
	status, _, _ = unstructured.NestedMap(isvc.Object, "status")
	if c := condition(status, "Ready"); c == nil || c["status"] != "True" {
		t.Errorf("Loaded once the runtime is up: Ready = %v, want True", c)
	}
	if fi, found, _ := unstructured.NestedMap(status, "modelStatus", "lastFailureInfo"); found {
		t.Errorf("Loaded once the runtime is up, yet lastFailureInfo %v is kept", fi)
	}
}

// TestModelLoads: a model that loads ends Loaded and UpToDate, with the service's endpoints.
func TestModelLoads(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("loads", "s3://models/model.joblib", ""))

	isvc := waitForStatus(t, ns, "loads", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
	status, _, _ := unstructured.NestedMap(isvc.Object, "status")
	if got := str(status, "modelStatus", "transitionStatus"); got != "UpToDate" {
		t.Errorf("transitionStatus = %q, want UpToDate", got)
	}
	if got, want := str(status, "url"), "grpc://modelmesh-serving."+ns+":8033"; got != want {
		t.Errorf("url = %q, want %q", got, want)
	}
}

// TestModelLoadFails: the loader's error ends the load in FailedToLoad, reason ModelLoadFailed,
// and Ready False (decodeModelState).
func TestModelLoadFails(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("fails", "s3://models/"+failMarker+"model.joblib", ""))

	isvc := waitForStatus(t, ns, "fails", "activeModelState FailedToLoad", func(s map[string]any) bool { return activeState(s) == "FailedToLoad" })
	status, _, _ := unstructured.NestedMap(isvc.Object, "status")
	if got := failureReason(status); got != "ModelLoadFailed" {
		t.Errorf("lastFailureInfo.reason = %q, want ModelLoadFailed", got)
	}
	if c := condition(status, "Ready"); c == nil || c["status"] != "False" {
		t.Errorf("Ready = %v, want False", c)
	}
}

// TestRuntimeNeverPulls: the runtime's Pods never turn ready, so the controller's resolver has no
// address and it writes RuntimeUnhealthy, "Waiting for runtime Pod to become available", Ready False
// (predictor_controller.go, isNoAddresses).
func TestRuntimeNeverPulls(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("never-pulls", ImageNeverPulls))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("waits", "s3://models/model.joblib", ""))

	waitForStatus(t, ns, "waits", "reason RuntimeUnhealthy", func(s map[string]any) bool { return failureReason(s) == "RuntimeUnhealthy" })
	// The runtime is scaled up from zero for the model: its Pods appear and are held in
	// ImagePullBackOff, never ready.
	list := waitForContainer(t, ns, "a runtime container in ImagePullBackOff", func(cs corev1.ContainerStatus) bool {
		return cs.State.Waiting != nil && cs.State.Waiting.Reason == "ImagePullBackOff"
	})
	expectNoPodReady(t, list, "with an image that never pulls")
	isvc, err := getISVC(t.Context(), t, ns, "waits")
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ := unstructured.NestedMap(isvc.Object, "status")
	if failureReason(status) != "RuntimeUnhealthy" {
		t.Errorf("with the runtime's Pods in ImagePullBackOff, lastFailureInfo.reason = %q, want RuntimeUnhealthy", failureReason(status))
	}
	if c := condition(status, "Ready"); c == nil || c["status"] != "False" {
		t.Errorf("Ready = %v, want False", c)
	}
	if got := str(status, "modelStatus", "lastFailureInfo", "message"); !strings.Contains(got, "Waiting for") {
		t.Errorf("lastFailureInfo.message = %q, want the controller's waiting message", got)
	}
}

// TestNamedRuntime: a model naming its runtime is placed by the rt:<name> label only: with that
// runtime's Pods never ready it waits (RuntimeUnhealthy), although another ready runtime supports
// its format; the same model without a runtime loads there. A runtime that does not exist is
// RuntimeNotRecognized (decodeModelState on model-mesh's "no running instances" message).
func TestNamedRuntime(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("healthy", "seldonio/mlserver:1.3.2"))
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("never-pulls", ImageNeverPulls))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("named", "s3://models/model.joblib", "runtime: never-pulls"))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("unnamed", "s3://models/model.joblib", ""))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("unknown", "s3://models/model.joblib", "runtime: no-such-runtime"))

	waitForStatus(t, ns, "unnamed", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
	waitForStatus(t, ns, "named", "reason RuntimeUnhealthy", func(s map[string]any) bool { return failureReason(s) == "RuntimeUnhealthy" })
	isvc := waitForStatus(t, ns, "unknown", "reason RuntimeNotRecognized", func(s map[string]any) bool { return failureReason(s) == "RuntimeNotRecognized" })
	if got := activeState(statusMap(isvc)); got != "FailedToLoad" {
		t.Errorf("unknown runtime: activeModelState = %q, want FailedToLoad", got)
	}
}

// TestNoStatusWritten: the controller writes no status at all for an InferenceService it cannot
// turn into a predictor (inferenceservice_registry.go BuildBasePredictorFromInferenceService and
// processInferenceServiceStorage return an error: a model spec with the runtime annotation, an
// unsupported storageUri scheme), nor for one in a namespace without modelmesh-enabled=true. A
// usable InferenceService created after them, in a served namespace, proves the controller ran.
func TestNoStatusWritten(t *testing.T) {
	t.Parallel()
	served, unlabelled := newNamespace(t, true), newNamespace(t, false)
	create(t, servingRuntimesResource, served, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	create(t, servingRuntimesResource, unlabelled, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	annotated := inferenceServiceYAML("annotated", "s3://models/model.joblib", "")
	annotated = strings.Replace(annotated, "serving.kserve.io/deploymentMode: ModelMesh",
		"serving.kserve.io/deploymentMode: ModelMesh\n    serving.kserve.io/servingRuntime: mlserver-1.x", 1)
	create(t, inferenceServicesResource, served, annotated)
	create(t, inferenceServicesResource, served, inferenceServiceYAML("bad-scheme", "ftp://models/model.joblib", ""))
	create(t, inferenceServicesResource, unlabelled, inferenceServiceYAML("unlabelled", "s3://models/model.joblib", ""))
	create(t, inferenceServicesResource, served, inferenceServiceYAML("usable", "s3://models/model.joblib", ""))

	waitForStatus(t, served, "usable", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
	for _, isvc := range []struct{ namespace, name string }{{served, "annotated"}, {served, "bad-scheme"}, {unlabelled, "unlabelled"}} {
		obj, err := getISVC(t.Context(), t, isvc.namespace, isvc.name)
		if err != nil {
			t.Fatal(err)
		}
		if status := statusMap(obj); len(status) > 0 {
			t.Errorf("%s/%s has status %v; the controller writes none", isvc.namespace, isvc.name, status)
		}
	}
	// Nor does it deploy the unlabelled namespace's runtime.
	deployments, err := kubernetes.NewForConfigOrDie(local.Cluster.RESTConfig()).AppsV1().Deployments(unlabelled).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deployments.Items) != 0 {
		t.Errorf("namespace without modelmesh-enabled has Deployments %v", deployments.Items)
	}
}

// TestStandby: a Loaded model whose copies are gone with the runtime's Pods is not loaded again
// until it is used: model-mesh reports NOT_LOADED, which the controller shows as Standby
// (predictor_controller.go modelStateMap). Standby counts as available, so Ready is True, unless the
// controller saw the runtime without Pods meanwhile: then it keeps that RuntimeUnhealthy failure
// (as in TestRuntimeRecovers) and Ready stays False until the model is loaded again.
func TestStandby(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("standby", "s3://models/model.joblib", ""))
	waitForStatus(t, ns, "standby", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })

	pods := kubernetes.NewForConfigOrDie(local.Cluster.RESTConfig()).CoreV1().Pods(ns)
	list, err := pods.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range list.Items {
		if err := pods.Delete(t.Context(), pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	isvc := waitForStatus(t, ns, "standby", "activeModelState Standby", func(s map[string]any) bool { return activeState(s) == "Standby" })
	status := statusMap(isvc)
	c := condition(status, "Ready")
	keptOutage := failureReason(status) == "RuntimeUnhealthy"
	if c == nil || (c["status"] == "True") == keptOutage {
		t.Errorf("Standby: Ready = %v with lastFailureInfo.reason %q; want True, or False with the kept RuntimeUnhealthy", c, failureReason(status))
	}
}

// TestControllerRestart: a restarted controller carries on from the cluster and model-mesh's
// records: a model that was Loaded stays Loaded, and a new one loads.
func TestControllerRestart(t *testing.T) {
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("before", "s3://models/model.joblib", ""))
	waitForStatus(t, ns, "before", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := local.RestartController(ctx); err != nil {
		t.Fatal(err)
	}
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("after", "s3://models/model.joblib", ""))
	waitForStatus(t, ns, "after", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
	isvc, err := getISVC(t.Context(), t, ns, "before")
	if err != nil {
		t.Fatal(err)
	}
	if got := activeState(statusMap(isvc)); got != "Loaded" {
		t.Errorf("after the restart, activeModelState = %q, want Loaded", got)
	}
}

// TestRuntimeCrashLoops: a runtime whose container crashes and restarts makes its Pods flip between
// ready and not; KWOK counts the restarts as the kubelet does.
func TestRuntimeCrashLoops(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("crashes", ImageCrashLoops))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("crashing", "s3://models/model.joblib", ""))
	waitForContainer(t, ns, "a runtime container restarted twice", func(cs corev1.ContainerStatus) bool {
		return cs.Image == ImageCrashLoops && cs.RestartCount >= 2 && cs.LastTerminationState.Terminated != nil
	})
}

// TestRuntimeFailsAtStart: a runtime whose container exits before it is ever ready keeps its Pods
// unready, so the controller waits for them, as with an image that never pulls.
func TestRuntimeFailsAtStart(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, true)
	create(t, servingRuntimesResource, ns, servingRuntimeYAML("fails", ImageFailsAtStart))
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("waits", "s3://models/model.joblib", ""))
	waitForStatus(t, ns, "waits", "reason RuntimeUnhealthy", func(s map[string]any) bool { return failureReason(s) == "RuntimeUnhealthy" })
	failedAtStart := func(cs corev1.ContainerStatus) bool {
		return cs.Image == ImageFailsAtStart && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" &&
			cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 1
	}
	list := waitForContainer(t, ns, "a runtime container in CrashLoopBackOff", failedAtStart)
	for _, pod := range list.Items {
		// A Pod the kubelet has not started yet is still Pending.
		if slices.ContainsFunc(pod.Status.ContainerStatuses, failedAtStart) && pod.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s is %s, want Running", pod.Name, pod.Status.Phase)
		}
	}
	expectNoPodReady(t, list, "although its runtime container never started")
}

// expectNoPodReady fails the test for each Pod whose Ready condition is True.
func expectNoPodReady(t *testing.T, list *corev1.PodList, why string) {
	t.Helper()
	for _, pod := range list.Items {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				t.Errorf("pod %s is Ready %s", pod.Name, why)
			}
		}
	}
}

// waitForContainer waits until a container of a Pod in namespace satisfies ok, and returns the
// Pods as last listed.
func waitForContainer(t *testing.T, namespace, want string, ok func(corev1.ContainerStatus) bool) *corev1.PodList {
	t.Helper()
	pods := kubernetes.NewForConfigOrDie(local.Cluster.RESTConfig()).CoreV1().Pods(namespace)
	var list *corev1.PodList
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, statusTimeout, true, func(ctx context.Context) (bool, error) {
		var err error
		if list, err = pods.List(ctx, metav1.ListOptions{}); err != nil {
			return false, nil //nolint:nilerr // retried until the bound
		}
		return slices.ContainsFunc(list.Items, func(pod corev1.Pod) bool {
			return slices.ContainsFunc(pod.Status.ContainerStatuses, ok)
		}), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s in namespace %s: %v; pods: %v", want, namespace, err, list)
	}
	return list
}

func managedByController(obj *unstructured.Unstructured) bool {
	return slices.ContainsFunc(obj.GetManagedFields(), func(f metav1.ManagedFieldsEntry) bool {
		return f.Manager == ControllerManager && f.Subresource == "status"
	})
}

// TestControllerCrashesOnRuntimeWithoutGRPCEndpoint: a multi-model ServingRuntime without
// grpcEndpoint makes the controller dereference a nil pointer while it builds the runtime's
// Deployment (controllers/modelmesh/puller.go addPullerSidecar: *rts.GrpcMultiModelManagementEndpoint)
// and, with controller-runtime's default of not recovering panics, crash; the stack restarts it
// after the kubelet's back-off, as a cluster would, and it crashes again for as long as the runtime
// exists. Once the runtime is gone, the restarted controller serves again. Not parallel: it takes
// the shared controller down.
func TestControllerCrashesOnRuntimeWithoutGRPCEndpoint(t *testing.T) {
	ns := newNamespace(t, true)
	before := local.ControllerCrashes()
	withoutEndpoint := strings.Replace(servingRuntimeYAML("no-endpoint", "seldonio/mlserver:1.3.2"), `  grpcEndpoint: "port:8085"`+"\n", "", 1)
	if withoutEndpoint == servingRuntimeYAML("no-endpoint", "seldonio/mlserver:1.3.2") {
		t.Fatal("the runtime manifest has no grpcEndpoint line to remove")
	}
	create(t, servingRuntimesResource, ns, withoutEndpoint)
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, statusTimeout, true, func(context.Context) (bool, error) {
		return local.ControllerCrashes() > before, nil
	})
	if err != nil {
		t.Fatalf("the controller did not crash on a runtime without grpcEndpoint: %v", err)
	}
	if err := dynamicClient(t).Resource(servingRuntimesResource).Namespace(ns).Delete(t.Context(), "no-endpoint", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Until the controller is back from its back-off, its webhook refuses every runtime write.
	var refused error
	err = wait.PollUntilContextTimeout(t.Context(), time.Second, statusTimeout, true, func(ctx context.Context) (bool, error) {
		refused = createFromYAML(ctx, t, servingRuntimesResource, ns, servingRuntimeYAML("mlserver-1.x", "seldonio/mlserver:1.3.2"))
		return refused == nil, nil
	})
	if err != nil {
		t.Fatalf("creating a runtime once the controller is back: %v", refused)
	}
	create(t, inferenceServicesResource, ns, inferenceServiceYAML("after-crash", "s3://models/model.joblib", ""))
	waitForStatus(t, ns, "after-crash", "activeModelState Loaded", func(s map[string]any) bool { return activeState(s) == "Loaded" })
}
