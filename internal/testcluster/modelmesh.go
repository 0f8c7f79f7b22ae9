package testcluster

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// The ModelMesh controller's vocabulary, as written into InferenceService status.
const (
	deploymentModeAnnotation = "serving.kserve.io/deploymentMode"
	deploymentModeModelMesh  = "ModelMesh"

	statePending      = "Pending"
	stateLoading      = "Loading"
	stateLoaded       = "Loaded"
	stateFailedToLoad = "FailedToLoad"

	transitionUpToDate            = "UpToDate"
	transitionInProgress          = "InProgress"
	transitionBlockedByFailedLoad = "BlockedByFailedLoad"
	transitionInvalidSpec         = "InvalidSpec"

	reasonModelLoadFailed      = "ModelLoadFailed"
	reasonNoSupportingRuntime  = "NoSupportingRuntime"
	reasonRuntimeNotRecognized = "RuntimeNotRecognized"
	reasonInvalidPredictorSpec = "InvalidPredictorSpec"

	grpcPort = 8033
	restPort = 8008
)

// servingRuntime is what placement needs from a ServingRuntime or ClusterServingRuntime.
type servingRuntime struct {
	name       string
	disabled   bool
	multiModel bool
	formats    []supportedFormat
}

type supportedFormat struct {
	name, version string
	autoSelect    bool
}

func servingRuntimeFrom(obj *unstructured.Unstructured) servingRuntime {
	rt := servingRuntime{name: obj.GetName()}
	rt.disabled, _, _ = unstructured.NestedBool(obj.Object, "spec", "disabled")
	rt.multiModel, _, _ = unstructured.NestedBool(obj.Object, "spec", "multiModel")
	formats, _, _ := unstructured.NestedSlice(obj.Object, "spec", "supportedModelFormats")
	for _, f := range formats {
		format, _ := f.(map[string]any)
		name, _ := format["name"].(string)
		version, _ := format["version"].(string)
		autoSelect, _ := format["autoSelect"].(bool)
		rt.formats = append(rt.formats, supportedFormat{name: name, version: version, autoSelect: autoSelect})
	}
	return rt
}

// usable mirrors ModelMesh, which only places models on enabled multi-model runtimes.
func (rt servingRuntime) usable() bool {
	return !rt.disabled && rt.multiModel
}

// supports reports whether rt lists the model format; autoSelectOnly applies when the
// InferenceService names no runtime, as ModelMesh then matches only autoSelect formats.
func (rt servingRuntime) supports(name, version string, autoSelectOnly bool) bool {
	for _, f := range rt.formats {
		if f.name == name && (version == "" || f.version == version) && (f.autoSelect || !autoSelectOnly) {
			return true
		}
	}
	return false
}

type outcome int

const (
	outcomeLoaded outcome = iota
	outcomeLoadFailed
	// outcomeUnplaceable and outcomeInvalidSpec are decided at once, without a load; a later change
	// to the runtimes or the spec can turn them into a load.
	outcomeUnplaceable
	outcomeInvalidSpec
)

// loadPlan is what the simulated controller will do with the current spec of an InferenceService.
type loadPlan struct {
	outcome outcome
	runtime string
	// reason and message describe a failure outcome.
	reason, message string
	delay           time.Duration
	endless         bool
}

func (p loadPlan) loads() bool {
	return p.outcome == outcomeLoaded || p.outcome == outcomeLoadFailed
}

// planLoad decides how loading the InferenceService's current spec ends. Namespace runtimes shadow
// cluster runtimes of the same name, as in ModelMesh.
func planLoad(isvc *unstructured.Unstructured, runtimes, clusterRuntimes []servingRuntime, opts SimulatorOptions) loadPlan {
	model, found, _ := unstructured.NestedMap(isvc.Object, "spec", "predictor", "model")
	if !found {
		return loadPlan{outcome: outcomeInvalidSpec, reason: reasonInvalidPredictorSpec,
			message: fmt.Sprintf("the InferenceService %s has no spec.predictor.model (the simulator supports no framework shorthands)", isvc.GetName())}
	}
	path, _, _ := unstructured.NestedString(model, "storage", "path")
	uri, _, _ := unstructured.NestedString(model, "storageUri")
	switch {
	case path == "" && uri == "":
		return loadPlan{outcome: outcomeInvalidSpec, reason: reasonInvalidPredictorSpec,
			message: fmt.Sprintf("the InferenceService %s must have either the storageUri or the storage.path", isvc.GetName())}
	case path != "" && uri != "":
		return loadPlan{outcome: outcomeInvalidSpec, reason: reasonInvalidPredictorSpec,
			message: fmt.Sprintf("the InferenceService %s cannot have both the storageUri and the storage.path", isvc.GetName())}
	case path == "":
		path = uri
	}

	formatName, _, _ := unstructured.NestedString(model, "modelFormat", "name")
	formatVersion, _, _ := unstructured.NestedString(model, "modelFormat", "version")
	runtimeName, _, _ := unstructured.NestedString(model, "runtime")
	all := append(append([]servingRuntime{}, runtimes...), clusterRuntimes...)
	var chosen *servingRuntime
	if runtimeName != "" {
		for i := range all {
			if all[i].name == runtimeName {
				chosen = &all[i]
				break
			}
		}
		if chosen == nil || !chosen.usable() {
			return loadPlan{outcome: outcomeUnplaceable, reason: reasonRuntimeNotRecognized, message: "Specified runtime name not recognized"}
		}
		if !chosen.supports(formatName, formatVersion, false) {
			return loadPlan{outcome: outcomeUnplaceable, reason: reasonNoSupportingRuntime,
				message: fmt.Sprintf("ServingRuntime %s does not support model format %q", runtimeName, formatName)}
		}
	} else {
		for i := range all {
			if all[i].usable() && all[i].supports(formatName, formatVersion, true) {
				chosen = &all[i]
				break
			}
		}
		if chosen == nil {
			return loadPlan{outcome: outcomeUnplaceable, reason: reasonNoSupportingRuntime, message: "No ServingRuntime supports specified model type"}
		}
	}

	plan := loadPlan{outcome: outcomeLoaded, runtime: chosen.name, delay: opts.LoadDelay}
	if strings.Contains(path, opts.SlowPathMarker) {
		plan.delay = opts.SlowLoadDelay
	}
	plan.endless = isvc.GetAnnotations()[HoldLoadingAnnotation] == "true"
	if strings.Contains(path, opts.FailPathMarker) {
		plan.outcome = outcomeLoadFailed
		plan.reason = reasonModelLoadFailed
		plan.message = fmt.Sprintf("simulated load failure in runtime %s: storage path %q contains %q", chosen.name, path, opts.FailPathMarker)
	}
	return plan
}

// loadAttempt is the simulator's memory of loading one generation of an InferenceService.
type loadAttempt struct {
	uid        types.UID
	generation int64
	started    time.Time
	// replacesLoaded: an older generation's model is Loaded and keeps serving during this load.
	replacesLoaded bool
	// loading is false while a spec or runtime problem stops the load from starting.
	loading bool
}

type loadStage int

const (
	stagePending loadStage = iota
	stageLoading
	stageDone
)

// stageAt returns where the attempt is at now, and how long until the next stage (0: none pending).
func stageAt(attempt loadAttempt, plan loadPlan, now time.Time) (loadStage, time.Duration) {
	if !plan.loads() {
		return stageDone, 0
	}
	elapsed := now.Sub(attempt.started)
	switch {
	case elapsed < plan.delay/2:
		return stagePending, plan.delay/2 - elapsed
	case plan.endless:
		return stageLoading, 0
	case elapsed < plan.delay:
		return stageLoading, plan.delay - elapsed
	default:
		return stageDone, 0
	}
}

// modelStatus is the ModelMesh part of the status at one moment.
type modelStatus struct {
	active, target, transition string
	failedCopies, totalCopies  int64
	failure                    *loadPlan
}

// currentModelStatus follows ModelMesh: while a new spec loads, the previously Loaded model keeps
// serving (active stays Loaded, target shows the new load); a failed new load leaves it serving.
func currentModelStatus(attempt loadAttempt, plan loadPlan, stage loadStage) modelStatus {
	ms := modelStatus{active: statePending, transition: transitionInProgress}
	if attempt.replacesLoaded {
		ms = modelStatus{active: stateLoaded, target: statePending, transition: transitionInProgress, totalCopies: 1}
	}
	setState := func(state string) {
		if attempt.replacesLoaded {
			ms.target = state
		} else {
			ms.active = state
		}
	}
	switch stage {
	case stagePending:
		return ms
	case stageLoading:
		setState(stateLoading)
		return ms
	}
	switch plan.outcome {
	case outcomeLoaded:
		ms = modelStatus{active: stateLoaded, transition: transitionUpToDate, totalCopies: 1}
	case outcomeLoadFailed:
		setState(stateFailedToLoad)
		ms.transition = transitionBlockedByFailedLoad
		ms.failedCopies = 1
		ms.failure = &plan
	case outcomeUnplaceable:
		setState(stateFailedToLoad)
		ms.transition = transitionBlockedByFailedLoad
		ms.failure = &plan
	case outcomeInvalidSpec:
		ms.target = ""
		ms.transition = transitionInvalidSpec
		ms.failure = &plan
	}
	return ms
}

// simulatedStatus is the whole status the ModelMesh controller would write now, and how long until
// it changes by itself (0: not before something else changes). Times already in the object's status
// are kept when their subject did not change, so an unchanged status compares equal.
func simulatedStatus(isvc *unstructured.Unstructured, attempt loadAttempt, plan loadPlan, now time.Time, opts SimulatorOptions) (map[string]any, time.Duration) {
	stage, next := stageAt(attempt, plan, now)
	ms := currentModelStatus(attempt, plan, stage)
	previous, _, _ := unstructured.NestedMap(isvc.Object, "status")

	modelStatusField := map[string]any{
		"transitionStatus": ms.transition,
		"states":           map[string]any{"activeModelState": ms.active, "targetModelState": ms.target},
		"copies":           map[string]any{"failedCopies": ms.failedCopies, "totalCopies": ms.totalCopies},
	}
	if ms.failure != nil {
		modelStatusField["lastFailureInfo"] = failureInfo(isvc, ms.failure, previous, now)
	}
	status := map[string]any{"modelStatus": modelStatusField}

	// Real ModelMesh already reports PredictorReady while a first load is still in progress; waiting
	// for Loaded is stricter, so code that waits for Ready cannot pass here and fail there.
	available := ms.active == stateLoaded
	var reason, message string
	if !available && ms.failure != nil {
		reason, message = ms.failure.reason, ms.failure.message
	}
	status["conditions"] = []any{
		condition(previous, "PredictorReady", available, reason, message, now),
		condition(previous, "Ready", available, reason, message, now),
	}
	if available {
		grpcURL := fmt.Sprintf("grpc://modelmesh-serving.%s:%d", isvc.GetNamespace(), grpcPort)
		status["url"] = grpcURL
		status["components"] = map[string]any{"predictor": map[string]any{
			"url":     grpcURL,
			"grpcUrl": grpcURL,
			"restUrl": fmt.Sprintf("http://modelmesh-serving.%s:%d", isvc.GetNamespace(), restPort),
		}}
	}
	if !opts.OmitObservedGeneration {
		status["observedGeneration"] = isvc.GetGeneration()
	}
	return status, next
}

func failureInfo(isvc *unstructured.Unstructured, failure *loadPlan, previous map[string]any, now time.Time) map[string]any {
	info := map[string]any{
		"reason":            failure.reason,
		"message":           failure.message,
		"modelRevisionName": modelRevisionName(isvc),
		"time":              now.UTC().Format(time.RFC3339),
	}
	if failure.outcome == outcomeLoadFailed {
		info["location"] = podSuffix(isvc.GetNamespace() + "/" + failure.runtime)
	}
	old, _, _ := unstructured.NestedMap(previous, "modelStatus", "lastFailureInfo")
	if old["reason"] == info["reason"] && old["modelRevisionName"] == info["modelRevisionName"] && old["time"] != nil {
		info["time"] = old["time"]
	}
	return info
}

// condition builds a Knative-style condition, keeping lastTransitionTime while the status holds.
func condition(previous map[string]any, conditionType string, isTrue bool, reason, message string, now time.Time) map[string]any {
	c := map[string]any{"type": conditionType, "status": "False", "lastTransitionTime": now.UTC().Format(time.RFC3339)}
	if isTrue {
		c["status"] = "True"
	}
	if reason != "" {
		c["reason"] = reason
		c["message"] = message
	}
	conditions, _, _ := unstructured.NestedSlice(previous, "conditions")
	for _, item := range conditions {
		old, _ := item.(map[string]any)
		if old["type"] == conditionType && old["status"] == c["status"] && old["lastTransitionTime"] != nil {
			c["lastTransitionTime"] = old["lastTransitionTime"]
		}
	}
	return c
}

// modelRevisionName imitates ModelMesh's concrete model id: the name plus a hash of the predictor spec.
func modelRevisionName(isvc *unstructured.Unstructured) string {
	predictor, _, _ := unstructured.NestedFieldNoCopy(isvc.Object, "spec", "predictor")
	data, _ := json.Marshal(predictor)
	sum := sha1.Sum(data)
	return fmt.Sprintf("%s__isvc-%s", isvc.GetName(), hex.EncodeToString(sum[:5]))
}

// podSuffix imitates ModelMesh's failure location: the last 12 characters of a runtime pod's name.
func podSuffix(seed string) string {
	sum := sha1.Sum([]byte(seed))
	digits := hex.EncodeToString(sum[:])
	return digits[:6] + "-" + digits[6:11]
}

func activeModelState(isvc *unstructured.Unstructured) string {
	state, _, _ := unstructured.NestedString(isvc.Object, "status", "modelStatus", "states", "activeModelState")
	return state
}
