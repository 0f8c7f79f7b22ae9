package provider

import (
	"context"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// Mapping between the asm_inference_service model and the InferenceService object: what is
// applied, and what is read back from the live object and its status.

// object is the configuration to apply: only the fields Terraform manages.
func (m *inferenceServiceModel) object(ctx context.Context) (*unstructured.Unstructured, diag.Diagnostics) {
	var diags diag.Diagnostics
	stringMap := func(v types.Map) map[string]any {
		if v.IsNull() {
			return nil
		}
		var strings map[string]string
		diags.Append(v.ElementsAs(ctx, &strings, false)...)
		out := make(map[string]any, len(strings))
		for k, s := range strings {
			out[k] = s
		}
		return out
	}
	setString := func(into map[string]any, key string, v types.String) {
		if !v.IsNull() {
			into[key] = v.ValueString()
		}
	}

	metadata := map[string]any{"name": m.Name.ValueString(), "namespace": m.Namespace.ValueString()}
	if labels := stringMap(m.Labels); labels != nil {
		metadata["labels"] = labels
	}
	annotations := stringMap(m.Annotations)
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations[deploymentModeAnnotation] = deploymentModeModelMesh
	metadata["annotations"] = annotations

	model := map[string]any{}
	if m.ModelFormat != nil {
		format := map[string]any{}
		setString(format, "name", m.ModelFormat.Name)
		setString(format, "version", m.ModelFormat.Version)
		model["modelFormat"] = format
	}
	setString(model, "runtime", m.Runtime)
	if m.Storage != nil {
		storage := map[string]any{}
		setString(storage, "key", m.Storage.Key)
		setString(storage, "path", m.Storage.Path)
		setString(storage, "schemaPath", m.Storage.SchemaPath)
		if parameters := stringMap(m.Storage.Parameters); parameters != nil {
			storage["parameters"] = parameters
		}
		model["storage"] = storage
	}
	setString(model, "storageUri", m.StorageURI)
	predictor := map[string]any{"model": model}
	setString(predictor, "serviceAccountName", m.ServiceAccountName)

	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.InferenceService.APIVersion(),
		"kind":       kube.InferenceService.Kind,
		"metadata":   metadata,
		"spec":       map[string]any{"predictor": predictor},
	}}, diags
}

// readFrom refreshes the model from the live object. A field counts when Terraform manages it: it is
// in state, or Terraform's field manager owns it. Fields only other tools or webhooks set are not
// drift, while a managed field another tool changed or removed is. An object the manager never
// applied (just imported) is read in full.
func (m *inferenceServiceModel) readFrom(obj *unstructured.Unstructured, fieldManager string) diag.Diagnostics {
	var diags diag.Diagnostics
	owned, err := kube.Owned(obj, fieldManager)
	if err != nil {
		diags.AddError("Reading field ownership failed", err.Error())
		return diags
	}
	imported := !owned.Has()
	managed := func(inState bool, fields ...string) bool { return imported || inState || owned.Has(fields...) }
	str := func(prior types.String, fields ...string) types.String {
		if !managed(!prior.IsNull(), fields...) {
			return types.StringNull()
		}
		return nestedString(obj, fields...)
	}
	managedKeys := func(prior types.Map, live map[string]string, fields ...string) map[string]string {
		out := map[string]string{}
		for k, v := range live {
			if _, inState := prior.Elements()[k]; managed(inState, append(slices.Clone(fields), k)...) {
				out[k] = v
			}
		}
		return out
	}

	m.ID = types.StringValue(obj.GetNamespace() + "/" + obj.GetName())
	m.Name = types.StringValue(obj.GetName())
	m.Namespace = types.StringValue(obj.GetNamespace())
	m.Labels = stringMapValue(m.Labels, managedKeys(m.Labels, obj.GetLabels(), "metadata", "labels"))
	annotations := managedKeys(m.Annotations, obj.GetAnnotations(), "metadata", "annotations")
	// The mode is the provider's, not the configuration's; anything but ModelMesh shows as drift to undo.
	delete(annotations, deploymentModeAnnotation)
	if mode := obj.GetAnnotations()[deploymentModeAnnotation]; mode != deploymentModeModelMesh {
		annotations[deploymentModeAnnotation] = mode
	}
	m.Annotations = stringMapValue(m.Annotations, annotations)

	at := func(fields ...string) []string { return append([]string{"spec", "predictor", "model"}, fields...) }
	if managed(m.ModelFormat != nil, at("modelFormat")...) {
		prior := m.ModelFormat
		if prior == nil {
			prior = &modelFormatModel{Name: types.StringNull(), Version: types.StringNull()}
		}
		m.ModelFormat = &modelFormatModel{Name: str(prior.Name, at("modelFormat", "name")...), Version: str(prior.Version, at("modelFormat", "version")...)}
	}
	m.Runtime = str(m.Runtime, at("runtime")...)
	if managed(m.Storage != nil, at("storage")...) {
		prior := m.Storage
		if prior == nil {
			prior = &modelStorageRef{Key: types.StringNull(), Path: types.StringNull(), SchemaPath: types.StringNull(), Parameters: types.MapNull(types.StringType)}
		}
		parameters, _, _ := unstructured.NestedStringMap(obj.Object, at("storage", "parameters")...)
		m.Storage = &modelStorageRef{
			Key:        str(prior.Key, at("storage", "key")...),
			Path:       str(prior.Path, at("storage", "path")...),
			SchemaPath: str(prior.SchemaPath, at("storage", "schemaPath")...),
			Parameters: stringMapValue(prior.Parameters, managedKeys(prior.Parameters, parameters, at("storage", "parameters")...)),
		}
	}
	m.StorageURI = str(m.StorageURI, at("storageUri")...)
	m.ServiceAccountName = str(m.ServiceAccountName, "spec", "predictor", "serviceAccountName")
	m.inferenceServiceStatus = statusOf(obj)
	return diags
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
