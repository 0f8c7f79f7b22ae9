package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/helpers/validatordiag"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// Plan-time expansion of the runtime spec (MLServer preset, defaults, spec_overrides_json), the
// object applied, and the read-back that decides what is drift.

// applied. config is the configuration; plan is modified in place.
func planRuntime(ctx context.Context, plan *runtimeModel, config runtimeModel) diag.Diagnostics {
	var diags diag.Diagnostics
	preset := config.MLServer
	if config.MultiModel.IsNull() {
		plan.MultiModel = presetDefault(ctx, preset, mlserverMultiModel)
	}
	if config.ProtocolVersions.IsNull() {
		plan.ProtocolVersions = presetDefault(ctx, preset, mlserverProtocolVersions)
	}
	if config.GRPCEndpoint.IsNull() {
		plan.GRPCEndpoint = presetDefault(ctx, preset, types.StringValue(mlserverGRPCEndpoint))
	}
	if config.GRPCDataEndpoint.IsNull() {
		plan.GRPCDataEndpoint = presetDefault(ctx, preset, types.StringValue(mlserverGRPCDataEndpoint))
	}

	switch adapter := config.BuiltInAdapter; {
	case adapter.IsNull():
		full := map[string]attr.Value{"env": nullValue(ctx, adapterType.AttrTypes["env"])}
		for name, v := range mlserverAdapter {
			full[name] = v
		}
		plan.BuiltInAdapter = presetDefault(ctx, preset, types.ObjectValueMust(adapterType.AttrTypes, full))
	case !adapter.IsUnknown():
		attrs := adapter.Attributes()
		for name, v := range mlserverAdapter {
			if attrs[name].IsNull() {
				attrs[name] = presetDefault(ctx, preset, v)
			}
		}
		plan.BuiltInAdapter = types.ObjectValueMust(adapterType.AttrTypes, attrs)
	}

	if config.Containers.IsNull() {
		switch {
		case preset.IsNull():
			plan.Containers = types.ListNull(containerType)
		case preset.IsUnknown():
			plan.Containers = types.ListUnknown(containerType)
		default:
			container, complete, err := expandMLServer(ctx, preset)
			if err != nil {
				diags.AddAttributeError(path.Root("mlserver"), "Invalid MLServer preset", err.Error())
				return diags
			}
			if !complete {
				plan.Containers = types.ListUnknown(containerType)
				break
			}
			list, err := valueFromJSON(ctx, []any{container}, containersType)
			containers, ok := list.(types.List)
			if err != nil || !ok {
				diags.AddAttributeError(path.Root("mlserver"), "Expanding the MLServer preset failed", fmt.Sprint(err))
				return diags
			}
			plan.Containers = containers
		}
	}
	return diags
}

// expandRuntimeSpec builds spec from the typed attributes. complete is false while some are unknown.
func expandRuntimeSpec(ctx context.Context, m runtimeModel) (spec map[string]any, complete bool, err error) {
	spec = map[string]any{}
	complete = true
	put := func(field string, v attr.Value) {
		if err != nil {
			return
		}
		j, ok, e := valueToJSON(ctx, v)
		if e != nil {
			err = fmt.Errorf("%s: %w", field, e)
			return
		}
		complete = complete && ok
		if j != nil {
			spec[field] = j
		}
	}
	put("supportedModelFormats", m.SupportedModelFormats)
	put("multiModel", m.MultiModel)
	put("disabled", m.Disabled)
	put("protocolVersions", m.ProtocolVersions)
	put("grpcEndpoint", m.GRPCEndpoint)
	put("grpcDataEndpoint", m.GRPCDataEndpoint)
	put("httpDataEndpoint", m.HTTPDataEndpoint)
	put("replicas", m.Replicas)
	put("builtInAdapter", m.BuiltInAdapter)
	put("containers", m.Containers)
	put("volumes", m.Volumes)
	put("nodeSelector", m.NodeSelector)
	put("tolerations", m.Tolerations)
	put("affinity", m.Affinity)
	put("labels", m.PodLabels)
	put("annotations", m.PodAnnotations)
	if !m.StorageHelperDisabled.IsNull() {
		put("storageHelper", types.ObjectValueMust(map[string]attr.Type{"disabled": types.BoolType},
			map[string]attr.Value{"disabled": m.StorageHelperDisabled}))
	}
	if !m.ImagePullSecrets.IsNull() && !m.ImagePullSecrets.IsUnknown() {
		secrets := []any{}
		for _, e := range m.ImagePullSecrets.Elements() {
			if s, ok := e.(types.String); ok && !s.IsUnknown() {
				secrets = append(secrets, map[string]any{"name": s.ValueString()})
			} else {
				complete = false
			}
		}
		spec["imagePullSecrets"] = secrets
	} else if m.ImagePullSecrets.IsUnknown() {
		complete = false
	}
	return spec, complete, err
}

// validateRuntimeConfig runs the checks that span attributes, on whatever is known.
func validateRuntimeConfig(ctx context.Context, config runtimeModel) diag.Diagnostics {
	var diags diag.Diagnostics
	overrides, err := config.SpecOverridesJSON.object()
	if err != nil || overrides == nil {
		return diags // not JSON: the attribute's validator reports it
	}
	spec, complete, err := expandRuntimeSpec(ctx, config)
	if err != nil {
		return diags // an invalid attribute, which its own validator reports
	}
	if config.Containers.IsNull() && !config.MLServer.IsNull() {
		// Of the preset's container, only its name matters to the overrides.
		spec["containers"] = []any{map[string]any{"name": mlserverContainer}}
		complete = complete && !config.MLServer.IsUnknown()
	}
	if err := mergeSpecOverrides(spec, overrides, !complete); err != nil {
		diags.Append(validatordiag.InvalidAttributeValueDiagnostic(path.Root("spec_overrides_json"),
			"must only set fields no typed attribute covers: "+err.Error(), config.SpecOverridesJSON.ValueString()))
	}
	return diags
}

// runtimeObject is the object to apply.
func runtimeObject(ctx context.Context, kind kube.Kind, m runtimeModel, namespace string) (*unstructured.Unstructured, error) {
	spec, complete, err := expandRuntimeSpec(ctx, m)
	if err != nil {
		return nil, err
	}
	if !complete {
		return nil, fmt.Errorf("some attributes are still unknown at apply time; please report this bug")
	}
	overrides, err := m.SpecOverridesJSON.object()
	if err != nil {
		return nil, fmt.Errorf("spec_overrides_json: %w", err)
	}
	if err := mergeSpecOverrides(spec, overrides, false); err != nil {
		return nil, fmt.Errorf("spec_overrides_json: %w", err)
	}
	metadata := map[string]any{"name": m.Name.ValueString()}
	if namespace != "" {
		metadata["namespace"] = namespace
	}
	for field, v := range map[string]types.Map{"labels": m.Labels, "annotations": m.Annotations} {
		j, _, err := valueToJSON(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if j != nil {
			metadata[field] = j
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kind.APIVersion(),
		"kind":       kind.Kind,
		"metadata":   metadata,
		"spec":       spec,
	}}, nil
}

// runtimeReader fills a model from the live object. Attributes left null in the prior model
// (the plan after an apply, the state on refresh) stay null unless our field manager owns the
// field: values other tools or the server set are never drift. On import, with no prior, exactly
// the fields we own are read.
type runtimeReader struct {
	ctx   context.Context
	obj   map[string]any
	owned kube.OwnedFields
	err   error
}

// ownsTyped reports whether we own a field a typed attribute of type t covers at the path.
func (r *runtimeReader) ownsTyped(t attr.Type, fieldPath []string) bool {
	if obj, ok := t.(types.ObjectType); ok {
		for name, at := range obj.AttrTypes {
			if r.ownsTyped(at, append(fieldPath[:len(fieldPath):len(fieldPath)], kubeFieldName(name))) {
				return true
			}
		}
		return false
	}
	return r.owned.Has(fieldPath...)
}

func (r *runtimeReader) read(prior attr.Value, fieldPath ...string) attr.Value {
	t := prior.Type(r.ctx)
	if prior.IsNull() && !r.ownsTyped(t, fieldPath) {
		return prior
	}
	live, found, _ := unstructured.NestedFieldNoCopy(r.obj, fieldPath...)
	if !found || live == nil {
		return nullValue(r.ctx, t)
	}
	switch tt := t.(type) {
	case types.ObjectType:
		// Objects are granular: each attribute follows its own prior value and ownership.
		priorAttrs := map[string]attr.Value{}
		if o, ok := prior.(types.Object); ok && !o.IsNull() && !o.IsUnknown() {
			priorAttrs = o.Attributes()
		}
		attrs := map[string]attr.Value{}
		for name, at := range tt.AttrTypes {
			p := priorAttrs[name]
			if p == nil {
				p = nullValue(r.ctx, at)
			}
			attrs[name] = r.read(p, append(fieldPath[:len(fieldPath):len(fieldPath)], kubeFieldName(name))...)
		}
		return types.ObjectValueMust(tt.AttrTypes, attrs)
	case types.MapType:
		// Maps are granular too: keys others added are not ours to show.
		priorElems := map[string]attr.Value{}
		if m, ok := prior.(types.Map); ok && !m.IsUnknown() {
			priorElems = m.Elements()
		}
		liveMap, _ := live.(map[string]any)
		keep := map[string]any{}
		for k, v := range liveMap {
			if _, inPrior := priorElems[k]; inPrior || r.owned.Has(append(fieldPath[:len(fieldPath):len(fieldPath)], k)...) {
				keep[k] = v
			}
		}
		if len(keep) == 0 && prior.IsNull() {
			return prior
		}
		live = keep
	}
	v, err := valueFromJSON(r.ctx, live, t)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", strings.Join(fieldPath, "."), err)
		return prior
	}
	return v
}

// readAs is read for a value of a known type.
func readAs[T attr.Value](r *runtimeReader, prior T, fieldPath ...string) T {
	if v, ok := r.read(prior, fieldPath...).(T); ok {
		return v
	}
	r.err = fmt.Errorf("%s: unexpected type read back", strings.Join(fieldPath, "."))
	return prior
}

// readRuntime updates m, holding the prior values, from the live object.
func readRuntime(ctx context.Context, m *runtimeModel, obj *unstructured.Unstructured, owned kube.OwnedFields) error {
	importing := m.Containers.IsNull() && m.MLServer.IsNull()
	r := &runtimeReader{ctx: ctx, obj: obj.Object, owned: owned}
	m.Labels = readAs(r, m.Labels, "metadata", "labels")
	m.Annotations = readAs(r, m.Annotations, "metadata", "annotations")
	m.SupportedModelFormats = readAs(r, m.SupportedModelFormats, "spec", "supportedModelFormats")
	m.MultiModel = readAs(r, m.MultiModel, "spec", "multiModel")
	m.Disabled = readAs(r, m.Disabled, "spec", "disabled")
	m.ProtocolVersions = readAs(r, m.ProtocolVersions, "spec", "protocolVersions")
	m.GRPCEndpoint = readAs(r, m.GRPCEndpoint, "spec", "grpcEndpoint")
	m.GRPCDataEndpoint = readAs(r, m.GRPCDataEndpoint, "spec", "grpcDataEndpoint")
	m.HTTPDataEndpoint = readAs(r, m.HTTPDataEndpoint, "spec", "httpDataEndpoint")
	m.Replicas = readAs(r, m.Replicas, "spec", "replicas")
	m.StorageHelperDisabled = readAs(r, m.StorageHelperDisabled, "spec", "storageHelper", "disabled")
	m.BuiltInAdapter = readAs(r, m.BuiltInAdapter, "spec", "builtInAdapter")
	m.Containers = readAs(r, m.Containers, "spec", "containers")
	m.Volumes = readAs(r, m.Volumes, "spec", "volumes")
	m.NodeSelector = readAs(r, m.NodeSelector, "spec", "nodeSelector")
	m.Tolerations = readAs(r, m.Tolerations, "spec", "tolerations")
	m.PodLabels = readAs(r, m.PodLabels, "spec", "labels")
	m.PodAnnotations = readAs(r, m.PodAnnotations, "spec", "annotations")
	if r.err != nil {
		return r.err
	}

	if !m.ImagePullSecrets.IsNull() || owned.Has("spec", "imagePullSecrets") {
		secrets, _, _ := unstructured.NestedSlice(obj.Object, "spec", "imagePullSecrets")
		if secrets == nil {
			m.ImagePullSecrets = types.ListNull(types.StringType)
		} else {
			names := make([]attr.Value, 0, len(secrets))
			for _, s := range secrets {
				name, _ := s.(map[string]any)["name"].(string)
				names = append(names, types.StringValue(name))
			}
			m.ImagePullSecrets = types.ListValueMust(types.StringType, names)
		}
	}

	// Affinity is one attribute over a granular object: read back only the parts we own, or all of
	// it once someone else took them over.
	liveAffinity, _, _ := unstructured.NestedMap(obj.Object, "spec", "affinity")
	if ownedAffinity, _ := owned.Extract(liveAffinity, "spec", "affinity").(map[string]any); ownedAffinity != nil {
		liveAffinity = ownedAffinity
	} else if m.Affinity.IsNull() {
		liveAffinity = nil
	}
	affinity, err := jsonObjectOf(liveAffinity)
	if err != nil {
		return fmt.Errorf("spec.affinity: %w", err)
	}
	m.Affinity = affinity

	liveSpec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	var overrides map[string]any
	switch {
	case importing:
		ownedSpec, _ := owned.Extract(liveSpec, "spec").(map[string]any)
		if r := residualSpec(ownedSpec, specShape); len(r) > 0 {
			overrides = r
		}
		if containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "containers"); len(containers) == 1 && owned.Has("spec", "containers") {
			if c, ok := containers[0].(map[string]any); ok {
				m.MLServer, _ = detectMLServer(ctx, c)
			}
		}
	case !m.SpecOverridesJSON.IsNull():
		prior, err := m.SpecOverridesJSON.object()
		if err != nil {
			return fmt.Errorf("spec_overrides_json: %w", err)
		}
		overrides = projectOverrides(liveSpec, prior, specShape)
	}
	if overrides != nil {
		v, err := jsonObjectOf(overrides)
		if err != nil {
			return fmt.Errorf("spec_overrides_json: %w", err)
		}
		m.SpecOverridesJSON = v
	}
	return nil
}
