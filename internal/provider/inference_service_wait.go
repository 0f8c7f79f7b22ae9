package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// Waiting for ModelMesh to load an InferenceService's model, and the errors that explain why a
// wait ended without it.

// loadWaiter decides, for each version of the object seen while watching, whether ModelMesh has
// finished the wait's work. The wait ends as kubectl's would, at the Ready condition, and also needs
// the applied spec Loaded when this apply started a load (loadStarted). A wait that started no load
// (a re-wait, or wait_for_ready turned on) accepts a model in Standby: ModelMesh loads such a model
// only when it is used, so waiting for Loaded could only time out.
type loadWaiter struct {
	generation      int64
	resourceVersion string
	// specChanged: the apply changed the spec, so the status in its response describes the old one.
	specChanged bool
	// loadStarted: this apply or the unfinished one before it changed the model.
	loadStarted bool
}

// wait watches the object until the applied spec is Loaded (or the model Ready, see loadWaiter)
// or has failed, and returns the last version seen. Meanwhile inspector looks behind a status that
// says the runtime is unhealthy, or that does not come, and ends the wait when it cannot succeed.
func (w loadWaiter) wait(ctx context.Context, client *kube.Client, ref kube.Ref, inspector *runtimeInspector) (*unstructured.Unstructured, error) {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var mu sync.Mutex
	var latest *unstructured.Unstructured
	done := func(obj *unstructured.Unstructured) (bool, error) {
		mu.Lock()
		latest = obj
		mu.Unlock()
		finished, err := w.done(obj)
		var failed *loadFailedError
		if errors.As(err, &failed) && (copyFailed(failed.status) || placementFailed(failed.status)) {
			// ModelMesh may still load the model elsewhere, or once its runtime reaches it: the
			// inspector tells, at once.
			inspector.poke()
			return false, nil
		}
		return finished, err
	}
	inspected := make(chan struct{})
	go func() {
		defer close(inspected)
		inspector.watch(ctx, stop, func() (*unstructured.Unstructured, bool) {
			mu.Lock()
			defer mu.Unlock()
			return latest, latest != nil && w.current(latest)
		})
	}()
	last, err := client.WaitFor(ctx, ref, done)
	stop(nil)
	<-inspected
	var runtimeFailed *runtimeFailedError
	var modelFailed *loadFailedError
	if cause := context.Cause(ctx); err != nil && (errors.As(cause, &runtimeFailed) || errors.As(cause, &modelFailed)) {
		return last, cause
	}
	return last, err
}

var errDeletedWhileWaiting = errors.New("the InferenceService was deleted while waiting for its model to load")

// loadFailedError carries ModelMesh's verdict on a load that cannot succeed without a change.
type loadFailedError struct {
	status inferenceServiceStatus
	// retries says, for a failed copy, why ModelMesh's retries elsewhere cannot help (lookAtRetries).
	retries string
}

func (e *loadFailedError) Error() string {
	return fmt.Sprintf("model load failed: %s: %s", e.status.LastFailureReason.ValueString(), e.status.LastFailureMessage.ValueString())
}

func (w loadWaiter) done(obj *unstructured.Unstructured) (bool, error) {
	if obj == nil {
		return false, errDeletedWhileWaiting
	}
	if !w.current(obj) {
		return false, nil
	}
	s := statusOf(obj)
	if loadFailed(s) {
		return false, &loadFailedError{status: s}
	}
	if s.TransitionStatus.ValueString() != transitionUpToDate {
		return false, nil
	}
	switch s.ActiveModelState.ValueString() {
	case modelStateLoaded:
		return s.Ready.ValueBool(), nil
	case modelStateStandby:
		return !w.loadStarted, nil
	}
	return false, nil
}

// current reports whether obj's status describes the applied spec. A controller that writes
// status.observedGeneration is taken at its word. ModelMesh does not write it; its status updates
// carry the resourceVersion they were computed from and are rejected when stale, so any version
// after the apply's response has a status computed from the applied spec.
func (w loadWaiter) current(obj *unstructured.Unstructured) bool {
	if observed, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration"); found {
		return observed >= w.generation
	}
	return !w.specChanged || obj.GetResourceVersion() != w.resourceVersion
}

// loadFailed reports the states in which ModelMesh stops trying until the spec or the runtimes
// change, or until its own retries: of a failed copy elsewhere (copyFailed), of a model it could not
// place once the runtime's type reaches it (placementFailed). The inspector judges those two.
func loadFailed(s inferenceServiceStatus) bool {
	switch s.TransitionStatus.ValueString() {
	case "BlockedByFailedLoad", "InvalidSpec":
		return true
	}
	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized":
		return true
	}
	return s.ActiveModelState.ValueString() == modelStateFailedToLoad || s.TargetModelState.ValueString() == modelStateFailedToLoad
}

// copyFailed reports a failure of one load of the model, which ModelMesh retries on another
// instance (see lookAtRetries), as opposed to a spec or runtime it cannot place at all.
func copyFailed(s inferenceServiceStatus) bool {
	return loadFailed(s) && s.LastFailureReason.ValueString() == "ModelLoadFailed"
}

// placementFailed reports ModelMesh finding no runtime for the model's type: final when no runtime
// serves it, passing when one does but the type constraints naming it have not reached the running
// model-mesh containers yet (see lookAtPlacement).
func placementFailed(s inferenceServiceStatus) bool {
	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized":
		return true
	}
	return false
}

// waitFailure explains why waiting ended without a Loaded model, and what to check. seen is what
// the last look behind the status found; current, whether the status describes the applied spec.
func waitFailure(ctx context.Context, operation string, m *inferenceServiceModel, s inferenceServiceStatus, err error, timeout time.Duration, seen string, current bool) (string, string) {
	ref := m.ref()
	kept := "The object is kept in Terraform state: a new object is marked tainted and replaced by the next apply; " +
		"after an update, the next apply waits again."
	last := "Last status: " + describeStatus(s)
	if !current {
		last = "The ModelMesh controller wrote no status for the applied spec. It writes none for a namespace it does not " +
			"serve (label modelmesh-enabled=true) or a spec it cannot read; check that it runs (kubectl get pods -A " +
			"-l control-plane=modelmesh-controller) and its log."
	}
	if seen != "" {
		last += "\nRuntime Pods last seen:\n" + seen
	}
	var failed *loadFailedError
	var runtimeFailed *runtimeFailedError
	switch {
	case errors.As(err, &failed):
		return fmt.Sprintf("%s failed to load its model", ref),
			fmt.Sprintf("ModelMesh reports %s\n\n%s%s\n\n%s", describeStatus(s), failed.retries, loadFailureHint(m, s), kept)
	case errors.As(err, &runtimeFailed):
		return runtimeFailed.summary, runtimeFailed.detail + "\n\n" + kept
	case errors.Is(err, errDeletedWhileWaiting):
		return fmt.Sprintf("%s was deleted while waiting", ref),
			"Something else deleted the object before its model was Loaded; the next apply creates it again."
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("Timed out waiting for %s", ref),
			fmt.Sprintf("ModelMesh did not report the model Loaded within %s (timeouts.%s). %s\n\n"+
				"If the model is just large, raise timeouts.%s. %s", timeout, operation, last, operation, kept)
	case ctx.Err() != nil:
		return fmt.Sprintf("Interrupted while waiting for %s", ref),
			fmt.Sprintf("Stopped waiting for the model to load. %s\n\n%s", last, kept)
	}
	return fmt.Sprintf("Waiting for %s failed", ref), err.Error() + "\n\n" + kept
}

func describeStatus(s inferenceServiceStatus) string {
	text := fmt.Sprintf("transitionStatus=%q, activeModelState=%q, targetModelState=%q, ready=%t.",
		s.TransitionStatus.ValueString(), s.ActiveModelState.ValueString(), s.TargetModelState.ValueString(), s.Ready.ValueBool())
	if !s.LastFailureReason.IsNull() {
		text += fmt.Sprintf("\nLast failure: %s: %s", s.LastFailureReason.ValueString(), s.LastFailureMessage.ValueString())
	}
	return text
}

// loadTimedOutMessage is in the failure model-mesh records for a load that outlasted the runtime's
// loading timeout: "java.util.concurrent.TimeoutException: Load of model <id> timed out after <n>sec"
// (ModelMesh.java v0.12.0, CacheEntry.scheduleTimeoutForLoad).
const loadTimedOutMessage = " timed out after "

// storageKeyMissingMessage starts the failure of a load whose storage key the namespace's
// storage-config Secret lacks: "Did not find storage config for key <key>: ..."
// (modelmesh-runtime-adapter v0.12.0, puller.ProcessLoadModelRequest).
const storageKeyMissingMessage = "Did not find storage config for key "

// loadFailureHint names the settings to check for a failure reason.
func loadFailureHint(m *inferenceServiceModel, s inferenceServiceStatus) string {
	namespace := m.Namespace.ValueString()
	format := "(none)"
	if !m.ModelFormat.IsNull() {
		format = fmt.Sprintf("%q", objectString(m.ModelFormat, "name").ValueString())
		if version := objectString(m.ModelFormat, "version"); !version.IsNull() {
			format += fmt.Sprintf(" version %q", version.ValueString())
		}
	}
	runtime := "ModelMesh picks a runtime itself (runtime is not set)"
	if !m.Runtime.IsNull() {
		runtime = fmt.Sprintf("runtime %q", m.Runtime.ValueString())
	}
	storage := fmt.Sprintf("storage_uri %q", m.StorageURI.ValueString())
	if !objectString(m.Storage, "path").IsNull() {
		key := "ModelMesh's default key"
		if k := objectString(m.Storage, "key"); !k.IsNull() {
			key = fmt.Sprintf("key %q", k.ValueString())
		}
		storage = fmt.Sprintf("storage %s, path %q", key, objectString(m.Storage, "path").ValueString())
	}

	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized", "RuntimeDisabled":
		if m.Runtime.IsNull() {
			protocol := ""
			if !m.ProtocolVersion.IsNull() {
				protocol = fmt.Sprintf(" and protocol %q in protocol_versions (grpc-v2 also serves v2 through ModelMesh's REST proxy)",
					m.ProtocolVersion.ValueString())
			}
			return fmt.Sprintf("No runtime is set, so ModelMesh only considers ServingRuntimes in namespace %q and "+
				"ClusterServingRuntimes that list model format %s with auto_select = true%s. Set runtime, or mark the format "+
				"auto_select in a runtime; if the runtime is created in the same apply, reference it so it is created first.",
				namespace, format, protocol)
		}
		return fmt.Sprintf("Check that %s exists as a ServingRuntime in namespace %q or as a ClusterServingRuntime, is not "+
			"disabled, has multi_model = true, and lists model format %s in supported_model_formats. If the runtime is "+
			"created in the same apply, reference it (runtime = asm_serving_runtime.<name>.name) so it is created first.",
			runtime, namespace, format)
	case "ModelLoadFailed":
		if strings.Contains(s.LastFailureMessage.ValueString(), loadTimedOutMessage) {
			which := "the runtime ModelMesh picked"
			if !m.Runtime.IsNull() {
				which = fmt.Sprintf("runtime %q", m.Runtime.ValueString())
			}
			return fmt.Sprintf("ModelMesh gave up on the load at the loading timeout of %s, in each Pod it tried. That timeout "+
				"is the runtime's built_in_adapter.model_loading_timeout_millis (90000 in the MLServer preset), not this "+
				"resource's timeouts: if the model is large or its storage slow, raise it in the asm_serving_runtime or "+
				"asm_cluster_serving_runtime and apply again.", which)
		}
		if key, found := strings.CutPrefix(s.LastFailureMessage.ValueString(), storageKeyMissingMessage); found {
			key, _, _ = strings.Cut(key, ":")
			return fmt.Sprintf("The storage key %q is not in the Secret storage-config of namespace %q, from which the runtime's "+
				"puller reads the storage's location and credentials. Create it with asm_model_storage (name = %q, namespace = %q), "+
				"referenced from storage.key so that it is created first, or set storage.key to a key that Secret has.",
				key, namespace, key, namespace)
		}
		return fmt.Sprintf("Check the %s: the key must exist in the storage-config Secret of namespace %q "+
			"(asm_model_storage) with working credentials, and the model must exist at that path. Also check that %s "+
			"can load model format %s; its pod logs (failure location above) have details.", storage, namespace, runtime, format)
	}
	return fmt.Sprintf("Check model_format (%s), runtime (%s) and the %s.", format, runtime, storage)
}
