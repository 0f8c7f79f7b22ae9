package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// Waiting for ModelMesh to load an InferenceService's model, and the errors that explain why a
// wait ended without it.

// loadWaiter decides, for each version of the object seen while watching, whether ModelMesh has
// finished loading the spec that was applied.
type loadWaiter struct {
	generation      int64
	resourceVersion string
	// specChanged: the apply changed the spec, so the status in its response describes the old one.
	specChanged bool
	// placementGrace: a placement failure does not end the wait (see placementGrace).
	placementGrace bool
}

// placementGrace is how long a placement failure (RuntimeNotRecognized, NoSupportingRuntime) may
// last before it counts. ModelMesh places a model again whenever runtimes change, and its cache of
// runtimes can trail one created moments earlier in the same apply, or lag after an apiserver
// restart; only a failure that outlasts the grace is a real misconfiguration.
const placementGrace = 30 * time.Second

// wait watches the object until the applied spec is Loaded or has failed, and returns the last
// version seen.
func (w loadWaiter) wait(ctx context.Context, client *kube.Client, ref kube.Ref) (*unstructured.Unstructured, error) {
	last, err := client.WaitFor(ctx, ref, w.done)
	var failed *loadFailedError
	if !errors.As(err, &failed) || !placementFailed(failed.status) {
		return last, err
	}
	graceCtx, cancel := context.WithTimeout(ctx, placementGrace)
	defer cancel()
	w.placementGrace = true
	seen, err := client.WaitFor(graceCtx, ref, w.done)
	if seen != nil {
		last = seen
	}
	if err != nil && ctx.Err() == nil && graceCtx.Err() != nil {
		return last, &loadFailedError{status: statusOf(last)}
	}
	return last, err
}

var errDeletedWhileWaiting = errors.New("the InferenceService was deleted while waiting for its model to load")

// loadFailedError carries ModelMesh's verdict on a load that cannot succeed without a change.
type loadFailedError struct {
	status inferenceServiceStatus
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
	if s.Ready.ValueBool() && s.ActiveModelState.ValueString() == modelStateLoaded && s.TransitionStatus.ValueString() == transitionUpToDate {
		return true, nil
	}
	if loadFailed(s) && (!w.placementGrace || !placementFailed(s)) {
		return false, &loadFailedError{status: s}
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

// loadFailed reports the states in which ModelMesh stops trying until the spec or the runtimes change.
func loadFailed(s inferenceServiceStatus) bool {
	switch s.TransitionStatus.ValueString() {
	case "BlockedByFailedLoad", "InvalidSpec":
		return true
	}
	return placementFailed(s) || s.ActiveModelState.ValueString() == modelStateFailedToLoad ||
		s.TargetModelState.ValueString() == modelStateFailedToLoad
}

// placementFailed reports that ModelMesh found no runtime for the model, which it retries by
// itself when runtimes change.
func placementFailed(s inferenceServiceStatus) bool {
	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized":
		return true
	}
	return false
}

// waitFailure explains why waiting ended without a Loaded model, and what to check.
func waitFailure(ctx context.Context, operation string, m *inferenceServiceModel, s inferenceServiceStatus, err error, timeout time.Duration) (string, string) {
	ref := m.ref()
	kept := "The object is kept in Terraform state: a new object is marked tainted and replaced by the next apply; " +
		"after an update, the next apply waits again."
	var failed *loadFailedError
	switch {
	case errors.As(err, &failed):
		return fmt.Sprintf("%s failed to load its model", ref),
			fmt.Sprintf("ModelMesh reports %s\n\n%s\n\n%s", describeStatus(s), loadFailureHint(m, s), kept)
	case errors.Is(err, errDeletedWhileWaiting):
		return fmt.Sprintf("%s was deleted while waiting", ref),
			"Something else deleted the object before its model was Loaded; the next apply creates it again."
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("Timed out waiting for %s", ref),
			fmt.Sprintf("ModelMesh did not report the model Loaded within %s (timeouts.%s). Last status: %s\n\n"+
				"Check the pods of the serving runtime in namespace %q and their logs; if the model is just large, "+
				"raise timeouts.%s. %s", timeout, operation, describeStatus(s), ref.Namespace, operation, kept)
	case ctx.Err() != nil:
		return fmt.Sprintf("Interrupted while waiting for %s", ref),
			fmt.Sprintf("Stopped waiting for the model to load. Last status: %s\n\n%s", describeStatus(s), kept)
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
	if !m.Storage.IsNull() {
		key := "ModelMesh's default key"
		if k := objectString(m.Storage, "key"); !k.IsNull() {
			key = fmt.Sprintf("key %q", k.ValueString())
		}
		storage = fmt.Sprintf("storage %s, path %q", key, objectString(m.Storage, "path").ValueString())
	}

	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized", "RuntimeDisabled":
		if m.Runtime.IsNull() {
			return fmt.Sprintf("No runtime is set, so ModelMesh only considers ServingRuntimes in namespace %q and "+
				"ClusterServingRuntimes that list model format %s with auto_select = true. Set runtime, or mark the format "+
				"auto_select in a runtime; if the runtime is created in the same apply, reference it so it is created first.",
				namespace, format)
		}
		return fmt.Sprintf("Check that %s exists as a ServingRuntime in namespace %q or as a ClusterServingRuntime, is not "+
			"disabled, has multi_model = true, and lists model format %s in supported_model_formats. If the runtime is "+
			"created in the same apply, reference it (runtime = asm_serving_runtime.<name>.name) so it is created first.",
			runtime, namespace, format)
	case "ModelLoadFailed":
		return fmt.Sprintf("Check the %s: the key must exist in the storage-config Secret of namespace %q "+
			"(asm_model_storage) with working credentials, and the model must exist at that path. Also check that %s "+
			"can load model format %s; its pod logs (failure location above) have details.", storage, namespace, runtime, format)
	case "RuntimeUnhealthy":
		return fmt.Sprintf("The runtime's pods are unhealthy: check the pods of %s in namespace %q.", runtime, namespace)
	}
	return fmt.Sprintf("Check model_format (%s), runtime (%s) and the %s.", format, runtime, storage)
}
