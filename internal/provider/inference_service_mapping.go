package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// Mapping between the asm_inference_service model and the InferenceService object, through field
// bindings (kube_mapping.go): what is applied, and what is read back from the live object and its
// status.

// fields binds the attributes to the fields of the InferenceService.
func (m *inferenceServiceModel) fields() []kubeField {
	model := func(field string) []string { return []string{"spec", "predictor", "model", field} }
	return append(metadataFields(&m.Labels, &m.Annotations),
		bind(&m.ModelFormat, model("modelFormat")...),
		bind(&m.Runtime, model("runtime")...),
		bind(&m.Storage, model("storage")...),
		bind(&m.StorageURI, model("storageUri")...),
		bind(&m.ProtocolVersion, model("protocolVersion")...),
		bind(&m.ServiceAccountName, "spec", "predictor", "serviceAccountName"),
	)
}

// buildObject is the configuration to apply: only the fields Terraform manages, and the
// provider's deployment mode.
func (r *inferenceServiceResource) buildObject(ctx context.Context, m *inferenceServiceModel) (*unstructured.Unstructured, error) {
	obj := map[string]any{
		"apiVersion": kube.InferenceService.APIVersion(),
		"kind":       kube.InferenceService.Kind,
		"metadata":   map[string]any{"name": m.Name.ValueString(), "namespace": m.Namespace.ValueString()},
		"spec":       map[string]any{"predictor": map[string]any{"model": map[string]any{}}},
	}
	if _, err := writeFields(ctx, obj, m.fields()); err != nil {
		return nil, err
	}
	setField(obj, deploymentModeModelMesh, "metadata", "annotations", deploymentModeAnnotation)
	return &unstructured.Unstructured{Object: obj}, nil
}

// readObject refreshes the model from the live object (see ownedReader). An object the field
// manager never applied (just imported) is read in full.
func (r *inferenceServiceResource) readObject(ctx context.Context, m *inferenceServiceModel, obj *unstructured.Unstructured, owned kube.OwnedFields) error {
	priorAnnotations := m.Annotations
	reader := newOwnedReader(ctx, obj, owned)
	reader.readUnowned = !owned.Has()
	reader.readFields(m.fields())
	if reader.err != nil {
		return reader.err
	}
	// The mode is the provider's, not the configuration's; anything but ModelMesh shows as drift to undo.
	annotations := map[string]string{}
	for k, v := range m.Annotations.Elements() {
		if s, ok := v.(types.String); ok {
			annotations[k] = s.ValueString()
		}
	}
	delete(annotations, deploymentModeAnnotation)
	if mode := obj.GetAnnotations()[deploymentModeAnnotation]; mode != deploymentModeModelMesh {
		annotations[deploymentModeAnnotation] = mode
	}
	m.Annotations = stringMapValue(priorAnnotations, annotations)
	m.inferenceServiceStatus = statusOf(obj)
	return nil
}

// fallbackAnnotation is the annotation ModelMesh takes for the storage attribute when the attribute
// is unset, and null when the attribute is set (the annotation is then ignored).
func fallbackAnnotation(m *inferenceServiceModel, storageAttribute, annotation string) attr.Value {
	if !objectString(m.Storage, storageAttribute).IsNull() {
		return types.StringNull()
	}
	if m.Annotations.IsUnknown() {
		return types.StringUnknown()
	}
	if v, ok := m.Annotations.Elements()[annotation]; ok {
		return v
	}
	return types.StringNull()
}

// objectString is the string attribute name of an object attribute such as model_format; null when
// the object is.
func objectString(obj types.Object, name string) types.String {
	if s, ok := obj.Attributes()[name].(types.String); ok {
		return s
	}
	return types.StringNull()
}

func nestedString(obj *unstructured.Unstructured, fields ...string) types.String {
	if v, found, _ := unstructured.NestedString(obj.Object, fields...); found {
		return types.StringValue(v)
	}
	return types.StringNull()
}

func statusOf(obj *unstructured.Unstructured) inferenceServiceStatus {
	ready := false
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if c, ok := c.(map[string]any); ok && c["type"] == "Ready" {
			ready = c["status"] == "True"
		}
	}
	modelStatus := func(fields ...string) types.String {
		return nestedString(obj, append([]string{"status", "modelStatus"}, fields...)...)
	}
	copies := func(field string) types.Int64 {
		if n, found, _ := unstructured.NestedInt64(obj.Object, "status", "modelStatus", "copies", field); found {
			return types.Int64Value(n)
		}
		return types.Int64Null()
	}
	return inferenceServiceStatus{
		Ready:              types.BoolValue(ready),
		URL:                nestedString(obj, "status", "url"),
		GRPCURL:            nestedString(obj, "status", "components", "predictor", "grpcUrl"),
		RESTURL:            nestedString(obj, "status", "components", "predictor", "restUrl"),
		ActiveModelState:   modelStatus("states", "activeModelState"),
		TargetModelState:   modelStatus("states", "targetModelState"),
		TransitionStatus:   modelStatus("transitionStatus"),
		TotalCopies:        copies("totalCopies"),
		FailedCopies:       copies("failedCopies"),
		LastFailureReason:  modelStatus("lastFailureInfo", "reason"),
		LastFailureMessage: modelStatus("lastFailureInfo", "message"),
	}
}

// fillUnknown takes the live value for every attribute the plan left unknown. Known planned values
// are what the plan promised, and an apply must keep its promises; a status that moved on since the
// plan's refresh shows at the next refresh.
func (s *inferenceServiceStatus) fillUnknown(live inferenceServiceStatus) {
	s.Ready = knownOr(s.Ready, live.Ready)
	s.URL = knownOr(s.URL, live.URL)
	s.GRPCURL = knownOr(s.GRPCURL, live.GRPCURL)
	s.RESTURL = knownOr(s.RESTURL, live.RESTURL)
	s.ActiveModelState = knownOr(s.ActiveModelState, live.ActiveModelState)
	s.TargetModelState = knownOr(s.TargetModelState, live.TargetModelState)
	s.TransitionStatus = knownOr(s.TransitionStatus, live.TransitionStatus)
	s.TotalCopies = knownOr(s.TotalCopies, live.TotalCopies)
	s.FailedCopies = knownOr(s.FailedCopies, live.FailedCopies)
	s.LastFailureReason = knownOr(s.LastFailureReason, live.LastFailureReason)
	s.LastFailureMessage = knownOr(s.LastFailureMessage, live.LastFailureMessage)
}

func knownOr[T attr.Value](planned, live T) T {
	if planned.IsUnknown() {
		return live
	}
	return planned
}
