package testcluster

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var testOptions = SimulatorOptions{LoadDelay: time.Second}.withDefaults()

func newISVC(model map[string]any, annotations map[string]string) *unstructured.Unstructured {
	predictor := map[string]any{}
	isvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1",
		"kind":       "InferenceService",
		"spec":       map[string]any{"predictor": predictor},
	}}
	if model != nil {
		predictor["model"] = model
	}
	isvc.SetNamespace("models")
	isvc.SetName("mnist")
	isvc.SetGeneration(3)
	isvc.SetAnnotations(annotations)
	return isvc
}

func sklearnModel(runtime, path string) map[string]any {
	model := map[string]any{
		"modelFormat": map[string]any{"name": "sklearn"},
		"storage":     map[string]any{"key": "localMinIO", "path": path},
	}
	if runtime != "" {
		model["runtime"] = runtime
	}
	return model
}

func multiModelRuntime(name string, formats ...supportedFormat) servingRuntime {
	return servingRuntime{name: name, multiModel: true, formats: formats}
}

var (
	sklearnAuto   = supportedFormat{name: "sklearn", version: "0", autoSelect: true}
	sklearnManual = supportedFormat{name: "sklearn", version: "0"}
)

func TestPlanLoadPlacesLikeModelMesh(t *testing.T) {
	disabled := multiModelRuntime("mlserver-1.x", sklearnAuto)
	disabled.disabled = true
	singleModel := multiModelRuntime("mlserver-1.x", sklearnAuto)
	singleModel.multiModel = false
	withVersion := func(version string) map[string]any {
		model := sklearnModel("", "models/mnist")
		set(version, "modelFormat", "version")(model)
		return model
	}

	tests := []struct {
		name            string
		model           map[string]any
		runtimes        []servingRuntime
		clusterRuntimes []servingRuntime
		wantOutcome     outcome
		wantRuntime     string
		wantReason      string
	}{
		{name: "named namespace runtime", model: sklearnModel("mlserver-1.x", "m"),
			runtimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}, wantOutcome: outcomeLoaded, wantRuntime: "mlserver-1.x"},
		{name: "named cluster runtime", model: sklearnModel("mlserver-1.x", "m"),
			clusterRuntimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}, wantOutcome: outcomeLoaded, wantRuntime: "mlserver-1.x"},
		{name: "named runtime ignores autoSelect", model: sklearnModel("mlserver-1.x", "m"),
			runtimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnManual)}, wantOutcome: outcomeLoaded, wantRuntime: "mlserver-1.x"},
		{name: "named runtime missing", model: sklearnModel("triton-2.x", "m"),
			runtimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}, wantOutcome: outcomeUnplaceable, wantReason: reasonRuntimeNotRecognized},
		{name: "named runtime disabled", model: sklearnModel("mlserver-1.x", "m"),
			runtimes: []servingRuntime{disabled}, wantOutcome: outcomeUnplaceable, wantReason: reasonRuntimeNotRecognized},
		{name: "named runtime not multi-model", model: sklearnModel("mlserver-1.x", "m"),
			runtimes: []servingRuntime{singleModel}, wantOutcome: outcomeUnplaceable, wantReason: reasonRuntimeNotRecognized},
		{name: "namespace runtime shadows cluster runtime", model: sklearnModel("mlserver-1.x", "m"),
			runtimes: []servingRuntime{disabled}, clusterRuntimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)},
			wantOutcome: outcomeUnplaceable, wantReason: reasonRuntimeNotRecognized},
		{name: "named runtime lacks the format", model: sklearnModel("triton-2.x", "m"),
			runtimes:    []servingRuntime{multiModelRuntime("triton-2.x", supportedFormat{name: "onnx", autoSelect: true})},
			wantOutcome: outcomeUnplaceable, wantReason: reasonNoSupportingRuntime},
		{name: "auto-selected cluster runtime", model: sklearnModel("", "m"),
			runtimes:        []servingRuntime{multiModelRuntime("triton-2.x", supportedFormat{name: "onnx", autoSelect: true})},
			clusterRuntimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}, wantOutcome: outcomeLoaded, wantRuntime: "mlserver-1.x"},
		{name: "only autoSelect formats count without a runtime", model: sklearnModel("", "m"),
			runtimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnManual)}, wantOutcome: outcomeUnplaceable, wantReason: reasonNoSupportingRuntime},
		{name: "auto-select skips disabled runtimes", model: sklearnModel("", "m"),
			runtimes: []servingRuntime{disabled}, wantOutcome: outcomeUnplaceable, wantReason: reasonNoSupportingRuntime},
		{name: "format version matches", model: withVersion("0"),
			runtimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}, wantOutcome: outcomeLoaded, wantRuntime: "mlserver-1.x"},
		{name: "format version differs", model: withVersion("1"),
			runtimes: []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}, wantOutcome: outcomeUnplaceable, wantReason: reasonNoSupportingRuntime},
		{name: "no runtimes at all", model: sklearnModel("", "m"), wantOutcome: outcomeUnplaceable, wantReason: reasonNoSupportingRuntime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planLoad(newISVC(tt.model, nil), tt.runtimes, tt.clusterRuntimes, testOptions)
			if plan.outcome != tt.wantOutcome || plan.runtime != tt.wantRuntime || plan.reason != tt.wantReason {
				t.Errorf("plan = %+v, want outcome %d runtime %q reason %q", plan, tt.wantOutcome, tt.wantRuntime, tt.wantReason)
			}
		})
	}
}

func TestPlanLoadSpecProblemsAndTestTriggers(t *testing.T) {
	runtimes := []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}
	uriModel := func(uri, path string) map[string]any {
		model := sklearnModel("", path)
		model["storageUri"] = uri
		if path == "" {
			delete(model, "storage")
		}
		return model
	}
	hold := map[string]string{HoldLoadingAnnotation: "true"}
	custom := testOptions
	custom.FailPathMarker = "broken"

	tests := []struct {
		name        string
		isvc        *unstructured.Unstructured
		opts        SimulatorOptions
		wantOutcome outcome
		wantReason  string
		wantDelay   time.Duration
		wantEndless bool
	}{
		{name: "no model spec", isvc: newISVC(nil, nil), opts: testOptions, wantOutcome: outcomeInvalidSpec, wantReason: reasonInvalidPredictorSpec},
		{name: "no storage", isvc: newISVC(sklearnModel("", ""), nil), opts: testOptions, wantOutcome: outcomeInvalidSpec, wantReason: reasonInvalidPredictorSpec},
		{name: "storage path and storageUri", isvc: newISVC(uriModel("s3://b/m", "m"), nil), opts: testOptions, wantOutcome: outcomeInvalidSpec, wantReason: reasonInvalidPredictorSpec},
		{name: "storage path", isvc: newISVC(sklearnModel("", "models/mnist"), nil), opts: testOptions, wantOutcome: outcomeLoaded, wantDelay: time.Second},
		{name: "storageUri", isvc: newISVC(uriModel("s3://b/models/mnist", ""), nil), opts: testOptions, wantOutcome: outcomeLoaded, wantDelay: time.Second},
		{name: "fail marker in path", isvc: newISVC(sklearnModel("", "fail/mnist"), nil), opts: testOptions,
			wantOutcome: outcomeLoadFailed, wantReason: reasonModelLoadFailed, wantDelay: time.Second},
		{name: "fail marker in storageUri", isvc: newISVC(uriModel("s3://b/fail/mnist", ""), nil), opts: testOptions,
			wantOutcome: outcomeLoadFailed, wantReason: reasonModelLoadFailed, wantDelay: time.Second},
		{name: "custom fail marker", isvc: newISVC(sklearnModel("", "models/broken-mnist"), nil), opts: custom,
			wantOutcome: outcomeLoadFailed, wantReason: reasonModelLoadFailed, wantDelay: time.Second},
		{name: "slow marker", isvc: newISVC(sklearnModel("", "slow/mnist"), nil), opts: testOptions, wantOutcome: outcomeLoaded, wantDelay: 20 * time.Second},
		{name: "hold annotation", isvc: newISVC(sklearnModel("", "models/mnist"), hold), opts: testOptions,
			wantOutcome: outcomeLoaded, wantDelay: time.Second, wantEndless: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planLoad(tt.isvc, runtimes, nil, tt.opts)
			if plan.outcome != tt.wantOutcome || plan.reason != tt.wantReason || plan.delay != tt.wantDelay || plan.endless != tt.wantEndless {
				t.Errorf("plan = %+v, want outcome %d reason %q delay %s endless %v", plan, tt.wantOutcome, tt.wantReason, tt.wantDelay, tt.wantEndless)
			}
			if plan.reason != "" && plan.message == "" {
				t.Error("failure without a message")
			}
		})
	}
}

// view is the part of a status the tests compare, flattened.
type view struct {
	active, target, transition, ready, predictorReady, url string
	failedCopies, totalCopies                              int64
	failureReason                                          string
}

func viewOf(status map[string]any) view {
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(status, path...)
		return s
	}
	num := func(path ...string) int64 {
		n, _, _ := unstructured.NestedInt64(status, path...)
		return n
	}
	v := view{
		active:        str("modelStatus", "states", "activeModelState"),
		target:        str("modelStatus", "states", "targetModelState"),
		transition:    str("modelStatus", "transitionStatus"),
		url:           str("url"),
		failedCopies:  num("modelStatus", "copies", "failedCopies"),
		totalCopies:   num("modelStatus", "copies", "totalCopies"),
		failureReason: str("modelStatus", "lastFailureInfo", "reason"),
	}
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	for _, c := range conditions {
		c, ok := c.(map[string]any)
		if !ok {
			continue // not a condition; the view keeps its fields empty, which the comparison reports
		}
		switch c["type"] {
		case "Ready":
			v.ready, _ = c["status"].(string)
		case "PredictorReady":
			v.predictorReady, _ = c["status"].(string)
		}
	}
	return v
}

func TestSimulatedStatusTimeline(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	url := "grpc://modelmesh-serving.models:8033"
	runtimes := []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}
	fresh := loadAttempt{started: started}
	replacing := loadAttempt{started: started, replacesLoaded: true}
	hold := map[string]string{HoldLoadingAnnotation: "true"}
	onnxModel := sklearnModel("", "m")
	onnxModel["modelFormat"] = map[string]any{"name": "onnx"}

	tests := []struct {
		name     string
		isvc     *unstructured.Unstructured
		attempt  loadAttempt
		at       time.Duration
		want     view
		wantNext time.Duration
	}{
		{name: "first load registered", isvc: newISVC(sklearnModel("", "m"), nil), attempt: fresh, at: 0,
			want:     view{active: "Pending", transition: "InProgress", ready: "False", predictorReady: "False"},
			wantNext: 500 * time.Millisecond},
		{name: "first load loading", isvc: newISVC(sklearnModel("", "m"), nil), attempt: fresh, at: 600 * time.Millisecond,
			want:     view{active: "Loading", transition: "InProgress", ready: "False", predictorReady: "False"},
			wantNext: 400 * time.Millisecond},
		{name: "first load loaded", isvc: newISVC(sklearnModel("", "m"), nil), attempt: fresh, at: time.Second,
			want: view{active: "Loaded", transition: "UpToDate", ready: "True", predictorReady: "True", url: url, totalCopies: 1}},
		{name: "first load failed", isvc: newISVC(sklearnModel("", "fail/m"), nil), attempt: fresh, at: time.Second,
			want: view{active: "FailedToLoad", transition: "BlockedByFailedLoad", ready: "False", predictorReady: "False",
				failedCopies: 1, failureReason: reasonModelLoadFailed}},
		{name: "first load held", isvc: newISVC(sklearnModel("", "m"), hold), attempt: fresh, at: time.Hour,
			want: view{active: "Loading", transition: "InProgress", ready: "False", predictorReady: "False"}},
		{name: "no supporting runtime", isvc: newISVC(onnxModel, nil), attempt: fresh, at: 0,
			want: view{active: "FailedToLoad", transition: "BlockedByFailedLoad", ready: "False", predictorReady: "False",
				failureReason: reasonNoSupportingRuntime}},
		{name: "invalid spec", isvc: newISVC(nil, nil), attempt: fresh, at: 0,
			want: view{active: "Pending", transition: "InvalidSpec", ready: "False", predictorReady: "False", failureReason: reasonInvalidPredictorSpec}},

		{name: "update registered", isvc: newISVC(sklearnModel("", "m"), nil), attempt: replacing, at: 0,
			want:     view{active: "Loaded", target: "Pending", transition: "InProgress", ready: "True", predictorReady: "True", url: url, totalCopies: 1},
			wantNext: 500 * time.Millisecond},
		{name: "update loading", isvc: newISVC(sklearnModel("", "m"), nil), attempt: replacing, at: 700 * time.Millisecond,
			want:     view{active: "Loaded", target: "Loading", transition: "InProgress", ready: "True", predictorReady: "True", url: url, totalCopies: 1},
			wantNext: 300 * time.Millisecond},
		{name: "update loaded", isvc: newISVC(sklearnModel("", "m"), nil), attempt: replacing, at: 2 * time.Second,
			want: view{active: "Loaded", transition: "UpToDate", ready: "True", predictorReady: "True", url: url, totalCopies: 1}},
		{name: "update failed keeps serving", isvc: newISVC(sklearnModel("", "fail/m"), nil), attempt: replacing, at: time.Second,
			want: view{active: "Loaded", target: "FailedToLoad", transition: "BlockedByFailedLoad", ready: "True", predictorReady: "True",
				url: url, failedCopies: 1, totalCopies: 1, failureReason: reasonModelLoadFailed}},
		{name: "update to missing runtime keeps serving", isvc: newISVC(sklearnModel("triton-2.x", "m"), nil), attempt: replacing, at: 0,
			want: view{active: "Loaded", target: "FailedToLoad", transition: "BlockedByFailedLoad", ready: "True", predictorReady: "True",
				url: url, totalCopies: 1, failureReason: reasonRuntimeNotRecognized}},
		{name: "invalid update keeps serving", isvc: newISVC(nil, nil), attempt: replacing, at: 0,
			want: view{active: "Loaded", transition: "InvalidSpec", ready: "True", predictorReady: "True", url: url, totalCopies: 1,
				failureReason: reasonInvalidPredictorSpec}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planLoad(tt.isvc, runtimes, nil, testOptions)
			status, next := simulatedStatus(tt.isvc, tt.attempt, plan, started.Add(tt.at), testOptions)
			if got := viewOf(status); got != tt.want {
				t.Errorf("status:\n got %+v\nwant %+v", got, tt.want)
			}
			if next != tt.wantNext {
				t.Errorf("next change in %s, want %s", next, tt.wantNext)
			}
			if status["observedGeneration"] != int64(3) {
				t.Errorf("observedGeneration = %v, want 3", status["observedGeneration"])
			}
		})
	}
}

func TestSimulatedStatusDetails(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	runtimes := []servingRuntime{multiModelRuntime("mlserver-1.x", sklearnAuto)}
	isvc := newISVC(sklearnModel("", "fail/m"), nil)
	plan := planLoad(isvc, runtimes, nil, testOptions)
	status, _ := simulatedStatus(isvc, loadAttempt{started: now.Add(-time.Minute)}, plan, now, testOptions)

	failure, _, _ := unstructured.NestedStringMap(status, "modelStatus", "lastFailureInfo")
	if failure["reason"] != reasonModelLoadFailed || len(failure["location"]) != 12 || failure["time"] != "2026-01-02T03:04:05Z" ||
		!strings.HasPrefix(failure["modelRevisionName"], "mnist__isvc-") || !strings.Contains(failure["message"], "fail/m") {
		t.Errorf("lastFailureInfo = %v", failure)
	}
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	ready, ok := conditions[1].(map[string]any)
	if !ok {
		t.Fatalf("conditions[1] = %v, want an object", conditions[1])
	}
	if ready["type"] != "Ready" || ready["reason"] != reasonModelLoadFailed || ready["message"] != failure["message"] {
		t.Errorf("Ready condition = %v, want the failure's reason and message", ready)
	}

	// A later sync with the same verdict keeps the times, so the status compares equal.
	isvc.Object["status"] = status
	again, _ := simulatedStatus(isvc, loadAttempt{started: now.Add(-time.Minute)}, plan, now.Add(time.Hour), testOptions)
	if !sameJSON(again, status) {
		t.Errorf("status changed on resync:\n got %s\nwant %s", mustJSON(again), mustJSON(status))
	}

	loaded := newISVC(sklearnModel("", "m"), nil)
	loaded.Object["status"] = status
	fixed, _ := simulatedStatus(loaded, loadAttempt{started: now}, planLoad(loaded, runtimes, nil, testOptions), now.Add(time.Hour), testOptions)
	predictor, _, _ := unstructured.NestedStringMap(fixed, "components", "predictor")
	want := map[string]string{"url": "grpc://modelmesh-serving.models:8033", "grpcUrl": "grpc://modelmesh-serving.models:8033", "restUrl": "http://modelmesh-serving.models:8008"}
	if !sameJSON(predictor, want) {
		t.Errorf("components.predictor = %v, want %v", predictor, want)
	}
	modelStatus, ok := fixed["modelStatus"].(map[string]any)
	if !ok {
		t.Fatalf("modelStatus after recovery = %v, want an object", fixed["modelStatus"])
	}
	if _, found := modelStatus["lastFailureInfo"]; found {
		t.Error("lastFailureInfo kept after a successful load")
	}
	fixedConditions, ok := fixed["conditions"].([]any)
	if !ok {
		t.Fatalf("conditions after recovery = %v, want a list", fixed["conditions"])
	}
	for _, c := range fixedConditions {
		if m, ok := c.(map[string]any); !ok || m["lastTransitionTime"] != "2026-01-02T04:04:05Z" || m["reason"] != nil {
			t.Errorf("condition after recovery = %v, want a new transition time and no reason", c)
		}
	}

	omitting := testOptions
	omitting.OmitObservedGeneration = true
	if status, _ := simulatedStatus(loaded, loadAttempt{started: now}, plan, now, omitting); status["observedGeneration"] != nil {
		t.Errorf("observedGeneration = %v with OmitObservedGeneration", status["observedGeneration"])
	}
}
