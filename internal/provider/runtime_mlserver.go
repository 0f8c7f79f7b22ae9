package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The mlserver preset of the runtime resources: the container, adapter and endpoints it stands for,
// expanded at plan time and recognised again when read back.

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
		{"MLSERVER_MODEL_NAME", "dummy-model-fixme"},
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
	// The container's requests and limits, used unless mlserver.resources is set.
	mlserverResources = map[string]map[string]string{
		"requests": {"cpu": "500m", "memory": "1Gi"},
		"limits":   {"cpu": "5", "memory": "1Gi"},
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

// mlserverResourcesDefault is mlserverResources as a value of t, the type of mlserver.resources.
func mlserverResourcesDefault(t types.ObjectType) types.Object {
	attrs := make(map[string]attr.Value, len(mlserverResources))
	for kind, amounts := range mlserverResources {
		elems := make(map[string]attr.Value, len(amounts))
		for name, amount := range amounts {
			elems[name] = quantityValue{StringValue: types.StringValue(amount)}
		}
		attrs[kind] = types.MapValueMust(quantityType{}, elems)
	}
	return types.ObjectValueMust(t.AttrTypes, attrs)
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
