package testcluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

const simulatorWait = 15 * time.Second

// testNamespace creates a namespace named after the test.
func testNamespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if err := local.Cluster.CreateNamespace(t.Context(), name, nil); err != nil {
		t.Fatal(err)
	}
	return name
}

func resource(gvr schema.GroupVersionResource, namespace string) dynamic.ResourceInterface {
	client := dynamic.NewForConfigOrDie(local.Cluster.RESTConfig())
	if namespace == "" {
		return client.Resource(gvr)
	}
	return client.Resource(gvr).Namespace(namespace)
}

func mustCreate(t *testing.T, gvr schema.GroupVersionResource, namespace string, obj *unstructured.Unstructured) {
	t.Helper()
	if _, err := resource(gvr, namespace).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func namespacedRuntime(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	obj := decode(t, mlserverClusterRuntime)
	obj.SetKind("ServingRuntime")
	obj.SetName(name)
	return obj
}

func inferenceService(t *testing.T, runtime, path string) *unstructured.Unstructured {
	t.Helper()
	obj := decode(t, modelMeshInferenceService)
	set(runtime, "spec", "predictor", "model", "runtime")(obj.Object)
	set(path, "spec", "predictor", "model", "storage", "path")(obj.Object)
	return obj
}

func modelState(obj *unstructured.Unstructured) string {
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(obj.Object, append([]string{"status", "modelStatus"}, path...)...)
		return s
	}
	return fmt.Sprintf("%s/%s/%s", str("states", "activeModelState"), str("states", "targetModelState"), str("transitionStatus"))
}

func readyStatus(obj *unstructured.Unstructured) string {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if c, ok := c.(map[string]any); ok && c["type"] == "Ready" {
			status, _ := c["status"].(string)
			return status
		}
	}
	return ""
}

// watchUntil runs change (which creates or updates the InferenceService name), then follows the object
// until done holds, returning it and every distinct model state seen on the way.
func watchUntil(t *testing.T, namespace, name string, change func(), done func(*unstructured.Unstructured) bool) (*unstructured.Unstructured, []string) {
	t.Helper()
	client := resource(inferenceServicesResource, namespace)
	list, err := client.List(t.Context(), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := client.Watch(t.Context(), metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
		ResourceVersion: list.GetResourceVersion(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	change()

	var states []string
	timeout := time.After(simulatorWait)
	for {
		select {
		case event, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed; states so far %v", states)
			}
			if event.Type != watch.Added && event.Type != watch.Modified {
				continue
			}
			obj, ok := event.Object.(*unstructured.Unstructured)
			if !ok {
				t.Fatalf("%s event carries a %T, want an InferenceService", event.Type, event.Object)
			}
			if state := modelState(obj); len(states) == 0 || states[len(states)-1] != state {
				states = append(states, state)
			}
			if done(obj) {
				return obj, states
			}
		case <-timeout:
			t.Fatalf("InferenceService %s/%s not in the expected state after %s; states seen %v", namespace, name, simulatorWait, states)
		}
	}
}

func loadedAt(generation int64) func(*unstructured.Unstructured) bool {
	return func(obj *unstructured.Unstructured) bool {
		observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
		return observed == generation && modelState(obj) == "Loaded//UpToDate" && readyStatus(obj) == "True"
	}
}

// containsInOrder reports whether want appears in seen as a subsequence.
func containsInOrder(seen, want []string) bool {
	i := 0
	for _, s := range seen {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestSimulatorLoadsAndUpdatesModel(t *testing.T) {
	t.Parallel()
	namespace := testNamespace(t)
	mustCreate(t, servingRuntimesResource, namespace, namespacedRuntime(t, "mlserver-1.x"))
	isvc := inferenceService(t, "mlserver-1.x", "sklearn/mnist-svm.joblib")
	name := isvc.GetName()

	loaded, states := watchUntil(t, namespace, name, func() { mustCreate(t, inferenceServicesResource, namespace, isvc) }, loadedAt(1))
	if want := []string{"Pending//InProgress", "Loading//InProgress", "Loaded//UpToDate"}; !containsInOrder(states, want) {
		t.Errorf("first load went through %v, want %v in order", states, want)
	}
	wantURL := "grpc://modelmesh-serving." + namespace + ":8033"
	predictor, _, _ := unstructured.NestedStringMap(loaded.Object, "status", "components", "predictor")
	url, _, _ := unstructured.NestedString(loaded.Object, "status", "url")
	copies, _, _ := unstructured.NestedMap(loaded.Object, "status", "modelStatus", "copies")
	if url != wantURL || predictor["grpcUrl"] != wantURL || predictor["url"] != wantURL ||
		predictor["restUrl"] != "http://modelmesh-serving."+namespace+":8008" || !sameJSON(copies, map[string]any{"failedCopies": 0, "totalCopies": 1}) {
		t.Errorf("loaded status = %s", mustJSON(loaded.Object["status"]))
	}

	set("sklearn/mnist-svm-v2.joblib", "spec", "predictor", "model", "storage", "path")(loaded.Object)
	_, states = watchUntil(t, namespace, name, func() {
		if _, err := resource(inferenceServicesResource, namespace).Update(t.Context(), loaded, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}, loadedAt(2))
	if want := []string{"Loaded/Loading/InProgress", "Loaded//UpToDate"}; !containsInOrder(states, want) {
		t.Errorf("update went through %v, want %v in order", states, want)
	}
}

func TestSimulatorReportsLoadFailure(t *testing.T) {
	t.Parallel()
	namespace := testNamespace(t)
	mustCreate(t, servingRuntimesResource, namespace, namespacedRuntime(t, "mlserver-1.x"))
	isvc := inferenceService(t, "mlserver-1.x", "fail/mnist-svm.joblib")

	failed, _ := watchUntil(t, namespace, isvc.GetName(), func() { mustCreate(t, inferenceServicesResource, namespace, isvc) },
		func(obj *unstructured.Unstructured) bool {
			return modelState(obj) == "FailedToLoad//BlockedByFailedLoad"
		})
	failure, _, _ := unstructured.NestedStringMap(failed.Object, "status", "modelStatus", "lastFailureInfo")
	if failure["reason"] != "ModelLoadFailed" || failure["location"] == "" || failure["modelRevisionName"] == "" || failure["time"] == "" ||
		!strings.Contains(failure["message"], "fail/mnist-svm.joblib") {
		t.Errorf("lastFailureInfo = %v", failure)
	}
	if readyStatus(failed) != "False" {
		t.Errorf("Ready = %q, want False", readyStatus(failed))
	}
	if failedCopies, _, _ := unstructured.NestedInt64(failed.Object, "status", "modelStatus", "copies", "failedCopies"); failedCopies != 1 {
		t.Errorf("failedCopies = %d, want 1", failedCopies)
	}
}

func TestSimulatorWaitsForRuntime(t *testing.T) {
	t.Parallel()
	namespace := testNamespace(t)

	named := inferenceService(t, "late-runtime", "sklearn/mnist")
	named.SetName("named-runtime")
	unplaced, _ := watchUntil(t, namespace, named.GetName(), func() { mustCreate(t, inferenceServicesResource, namespace, named) },
		func(obj *unstructured.Unstructured) bool {
			return modelState(obj) == "FailedToLoad//BlockedByFailedLoad"
		})
	if reason, _, _ := unstructured.NestedString(unplaced.Object, "status", "modelStatus", "lastFailureInfo", "reason"); reason != "RuntimeNotRecognized" {
		t.Errorf("reason = %q, want RuntimeNotRecognized", reason)
	}
	watchUntil(t, namespace, named.GetName(), func() { mustCreate(t, servingRuntimesResource, namespace, namespacedRuntime(t, "late-runtime")) }, loadedAt(1))

	autoSelected := inferenceService(t, "", "late/model")
	autoSelected.SetName("auto-selected")
	unstructured.RemoveNestedField(autoSelected.Object, "spec", "predictor", "model", "runtime")
	set(map[string]any{"name": "late-format"}, "spec", "predictor", "model", "modelFormat")(autoSelected.Object)
	unplaced, _ = watchUntil(t, namespace, autoSelected.GetName(), func() { mustCreate(t, inferenceServicesResource, namespace, autoSelected) },
		func(obj *unstructured.Unstructured) bool {
			return modelState(obj) == "FailedToLoad//BlockedByFailedLoad"
		})
	if reason, _, _ := unstructured.NestedString(unplaced.Object, "status", "modelStatus", "lastFailureInfo", "reason"); reason != "NoSupportingRuntime" {
		t.Errorf("reason = %q, want NoSupportingRuntime", reason)
	}
	clusterRuntime := decode(t, mlserverClusterRuntime)
	clusterRuntime.SetName("late-cluster-runtime")
	set([]any{map[string]any{"name": "late-format", "autoSelect": true}}, "spec", "supportedModelFormats")(clusterRuntime.Object)
	t.Cleanup(func() {
		// t.Context is already canceled when cleanups run.
		err := resource(clusterServingRuntimesResource, "").Delete(context.Background(), clusterRuntime.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ClusterServingRuntime %s: %v", clusterRuntime.GetName(), err)
		}
	})
	watchUntil(t, namespace, autoSelected.GetName(), func() { mustCreate(t, clusterServingRuntimesResource, "", clusterRuntime) }, loadedAt(1))
}

func TestSimulatorHoldsLoadWhileAnnotated(t *testing.T) {
	t.Parallel()
	namespace := testNamespace(t)
	mustCreate(t, servingRuntimesResource, namespace, namespacedRuntime(t, "mlserver-1.x"))
	isvc := inferenceService(t, "mlserver-1.x", "sklearn/mnist")
	isvc.SetAnnotations(map[string]string{deploymentModeAnnotation: deploymentModeModelMesh, HoldLoadingAnnotation: "true"})

	watchUntil(t, namespace, isvc.GetName(), func() { mustCreate(t, inferenceServicesResource, namespace, isvc) },
		func(obj *unstructured.Unstructured) bool { return modelState(obj) == "Loading//InProgress" })
	time.Sleep(3 * SimulatorOptions{}.withDefaults().LoadDelay)
	held, err := resource(inferenceServicesResource, namespace).Get(t.Context(), isvc.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if state := modelState(held); state != "Loading//InProgress" {
		t.Fatalf("held load is %s, want Loading//InProgress", state)
	}

	annotations := held.GetAnnotations()
	delete(annotations, HoldLoadingAnnotation)
	held.SetAnnotations(annotations)
	watchUntil(t, namespace, isvc.GetName(), func() {
		if _, err := resource(inferenceServicesResource, namespace).Update(t.Context(), held, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}, loadedAt(1))
}

func TestSimulatorIgnoresOtherDeploymentModes(t *testing.T) {
	t.Parallel()
	namespace := testNamespace(t)
	mustCreate(t, servingRuntimesResource, namespace, namespacedRuntime(t, "mlserver-1.x"))
	isvc := inferenceService(t, "mlserver-1.x", "sklearn/mnist")
	isvc.SetAnnotations(map[string]string{deploymentModeAnnotation: "Serverless"})
	mustCreate(t, inferenceServicesResource, namespace, isvc)

	time.Sleep(3 * SimulatorOptions{}.withDefaults().LoadDelay)
	got, err := resource(inferenceServicesResource, namespace).Get(t.Context(), isvc.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if status, found := got.Object["status"]; found {
		t.Errorf("status = %s, want none: ModelMesh does not handle Serverless InferenceServices", mustJSON(status))
	}
}
