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

// The MLServer preset: what kserve/modelmesh-serving config/runtimes/mlserver-1.x.yaml sets for
// MLServer to work behind ModelMesh's adapter.
const (
	mlserverContainer         = "mlserver"
	mlserverImplementationEnv = "MLSERVER_MODEL_IMPLEMENTATION"
	mlserverGRPCEndpoint      = "port:8085"
	mlserverGRPCDataEndpoint  = "port:8001"
)

var (
	mlserverEnv = [][2]string{
		{"MLSERVER_MODELS_DIR", "/models/_mlserver_models/"},
		{"MLSERVER_GRPC_PORT", "8001"},
		// MLServer's default HTTP port 8080 collides with ModelMesh's LiteLinks port.
		{"MLSERVER_HTTP_PORT", "8002"},
		{"MLSERVER_LOAD_MODELS_AT_STARTUP", "false"},
		// With no model loaded, MLServer fails the adapter's RepositoryIndex call unless a model name is set.
		{"MLSERVER_MODEL_NAME", "dummy-model"},
		// Listen inside the pod only; ModelMesh proxies all traffic.
		{"MLSERVER_HOST", "127.0.0.1"},
		// ModelMesh enforces the message size limit.
		{"MLSERVER_GRPC_MAX_MESSAGE_LENGTH", "-1"},
	}
	mlserverDebugEnv = [][2]string{{"MLSERVER_DEBUG", "true"}, {"MLSERVER_MODEL_PARALLEL_WORKERS", "0"}}
	mlserverAdapter  = map[string]attr.Value{
		"server_type":                  types.StringValue("mlserver"),
		"runtime_management_port":      types.Int64Value(8001),
		"mem_buffer_bytes":             types.Int64Value(134217728),
		"model_loading_timeout_millis": types.Int64Value(90000),
	}
	// ModelMesh only schedules models onto multi-model runtimes.
	mlserverMultiModel       = types.BoolValue(true)
	mlserverProtocolVersions = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("grpc-v2")})
)

func isMLServerEnv(name string) bool {
	if name == mlserverImplementationEnv {
		return true
	}
	for _, vars := range [][][2]string{mlserverEnv, mlserverDebugEnv} {
		for _, e := range vars {
			if e[0] == name {
				return true
			}
		}
	}
	return false
}

// planRuntime fills the computed attributes the preset decides, so the plan shows what will be
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

// presetDefault is v with the preset, null without, and unknown while the preset's presence is.
func presetDefault[T attr.Value](ctx context.Context, preset types.Object, v T) T {
	var out attr.Value = v
	switch {
	case preset.IsUnknown():
		out = unknownValue(ctx, v.Type(ctx))
	case preset.IsNull():
		out = nullValue(ctx, v.Type(ctx))
	}
	if typed, ok := out.(T); ok {
		return typed
	}
	return v
}

func envJSON(vars [][2]string) []any {
	out := make([]any, 0, len(vars))
	for _, v := range vars {
		out = append(out, map[string]any{"name": v[0], "value": v[1]})
	}
	return out
}

// expandMLServer returns the container the preset stands for. complete is false while any of the
// preset's attributes is unknown.
func expandMLServer(ctx context.Context, preset types.Object) (container map[string]any, complete bool, err error) {
	j, complete, err := valueToJSON(ctx, preset)
	if err != nil || !complete {
		return nil, complete, err
	}
	m, ok := j.(map[string]any)
	if !ok {
		return nil, false, fmt.Errorf("the preset is not an object")
	}
	env := envJSON(mlserverEnv)
	if impl, ok := m["implementation"].(string); ok {
		env = append(env, map[string]any{"name": mlserverImplementationEnv, "value": impl})
	}
	if debug, _ := m["debug"].(bool); debug {
		env = append(env, envJSON(mlserverDebugEnv)...)
	}
	if extra, ok := m["env"].([]any); ok {
		env = append(env, extra...)
	}
	container = map[string]any{"name": mlserverContainer, "image": m["image"], "env": env}
	if res, ok := m["resources"]; ok {
		container["resources"] = res
	}
	return container, true, nil
}

// detectMLServer recognises, on import, a container the preset expands to, and returns the preset.
func detectMLServer(ctx context.Context, container map[string]any) (types.Object, bool) {
	if container["name"] != mlserverContainer {
		return types.ObjectNull(mlserverType.AttrTypes), false
	}
	env, _ := container["env"].([]any)
	preset := map[string]any{"image": container["image"], "resources": container["resources"], "debug": false}
	rest := env
	take := func(name string) (string, bool) {
		if len(rest) == 0 {
			return "", false
		}
		e, _ := rest[0].(map[string]any)
		if e["name"] != name || len(e) != 2 {
			return "", false
		}
		value, ok := e["value"].(string)
		if ok {
			rest = rest[1:]
		}
		return value, ok
	}
	for _, want := range mlserverEnv {
		if v, ok := take(want[0]); !ok || v != want[1] {
			return types.ObjectNull(mlserverType.AttrTypes), false
		}
	}
	if impl, ok := take(mlserverImplementationEnv); ok {
		preset["implementation"] = impl
	}
	if v, ok := take(mlserverDebugEnv[0][0]); ok && v == mlserverDebugEnv[0][1] {
		preset["debug"] = true
		if v, ok := take(mlserverDebugEnv[1][0]); !ok || v != mlserverDebugEnv[1][1] {
			return types.ObjectNull(mlserverType.AttrTypes), false
		}
	}
	if len(rest) > 0 {
		preset["env"] = rest
	}
	v, err := valueFromJSON(ctx, preset, mlserverType)
	obj, ok := v.(types.Object)
	if err != nil || !ok {
		return types.ObjectNull(mlserverType.AttrTypes), false
	}
	// Only an exact round trip is the preset: anything else it would not produce stays in containers.
	expanded, _, err := expandMLServer(ctx, obj)
	if err != nil {
		return types.ObjectNull(mlserverType.AttrTypes), false
	}
	a, errA := valueFromJSON(ctx, expanded, containerType)
	b, errB := valueFromJSON(ctx, container, containerType)
	if errA != nil || errB != nil || !a.Equal(b) {
		return types.ObjectNull(mlserverType.AttrTypes), false
	}
	return obj, true
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

// mergeSpecOverrides merges spec_overrides_json into the typed spec. Only fields no typed
// attribute covers may be set; objects and name-keyed list items are descended into.
// lenient skips items it cannot find, for validation while some names are unknown.
func mergeSpecOverrides(spec, overrides map[string]any, lenient bool) error {
	return mergeOverrides(spec, overrides, specShape, "spec", lenient)
}

func mergeOverrides(typed, overrides map[string]any, shape attr.Type, at string, lenient bool) error {
	for field, ov := range overrides {
		here := at + "." + field
		t, covered := shapeField(shape, field)
		if !covered {
			typed[field] = ov
			continue
		}
		switch tt := t.(type) {
		case types.ObjectType:
			om, ok := ov.(map[string]any)
			if !ok {
				return fmt.Errorf("%s must be an object", here)
			}
			tm, _ := typed[field].(map[string]any)
			if tm == nil {
				tm = map[string]any{}
			}
			if err := mergeOverrides(tm, om, tt, here, lenient); err != nil {
				return err
			}
			if len(tm) > 0 {
				typed[field] = tm
			}
		case types.ListType:
			if !keyedByName(tt.ElemType) {
				return fmt.Errorf("%s is set through a typed attribute; remove it from spec_overrides_json", here)
			}
			items, ok := ov.([]any)
			if !ok {
				return fmt.Errorf("%s must be a list", here)
			}
			typedItems, _ := typed[field].([]any)
			for _, item := range items {
				om, _ := item.(map[string]any)
				name, ok := om["name"].(string)
				if !ok {
					return fmt.Errorf("%s: every item needs a \"name\" naming the typed item to extend", here)
				}
				target := findNamed(typedItems, name)
				if target == nil && lenient {
					continue
				}
				if target == nil {
					return fmt.Errorf("%s: there is no typed item named %q; add items through the typed attribute", here, name)
				}
				rest := map[string]any{}
				for k, v := range om {
					if k != "name" {
						rest[k] = v
					}
				}
				if err := mergeOverrides(target, rest, tt.ElemType, fmt.Sprintf("%s[name=%s]", here, name), lenient); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s is set through a typed attribute; remove it from spec_overrides_json", here)
		}
	}
	return nil
}

func findNamed(items []any, name string) map[string]any {
	for _, item := range items {
		if m, ok := item.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// projectOverrides reads back the fields an override set: the live values at the override's paths.
func projectOverrides(live any, overrides map[string]any, shape attr.Type) map[string]any {
	lm, _ := live.(map[string]any)
	out := map[string]any{}
	for field, ov := range overrides {
		lv, found := lm[field]
		if !found {
			continue
		}
		t, covered := shapeField(shape, field)
		switch {
		case !covered:
			out[field] = lv
		case isObjectType(t):
			if om, ok := ov.(map[string]any); ok {
				out[field] = projectOverrides(lv, om, t)
			}
		case isKeyedList(t):
			items, _ := ov.([]any)
			liveItems, _ := lv.([]any)
			projected := []any{}
			for _, item := range items {
				om, _ := item.(map[string]any)
				name, _ := om["name"].(string)
				if li := findNamed(liveItems, name); li != nil {
					p := projectOverrides(li, om, listElemType(t))
					p["name"] = name
					projected = append(projected, p)
				}
			}
			out[field] = projected
		}
	}
	return out
}

// residualSpec is, on import, what spec_overrides_json must hold: the owned fields of the live
// spec that no typed attribute covers.
func residualSpec(live map[string]any, shape attr.Type) map[string]any {
	out := map[string]any{}
	for field, lv := range live {
		t, covered := shapeField(shape, field)
		switch {
		case !covered:
			out[field] = lv
		case isObjectType(t):
			if lm, ok := lv.(map[string]any); ok {
				if r := residualSpec(lm, t); len(r) > 0 {
					out[field] = r
				}
			}
		case isKeyedList(t):
			var items []any
			liveItems, _ := lv.([]any)
			for _, li := range liveItems {
				lm, _ := li.(map[string]any)
				if r := residualSpec(lm, listElemType(t)); len(r) > 0 {
					r["name"] = lm["name"]
					items = append(items, r)
				}
			}
			if len(items) > 0 {
				out[field] = items
			}
		}
	}
	return out
}

func isObjectType(t attr.Type) bool {
	_, ok := t.(types.ObjectType)
	return ok
}

func isKeyedList(t attr.Type) bool {
	return keyedByName(listElemType(t))
}

// listElemType is the element type of a list type, nil for other types.
func listElemType(t attr.Type) attr.Type {
	if l, ok := t.(types.ListType); ok {
		return l.ElemType
	}
	return nil
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
