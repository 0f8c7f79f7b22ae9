package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

const testManager = "terraform-provider-asm"

// decode turns a JSON literal into the shapes unstructured objects hold (integers as int64).
func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON([]byte(`{"apiVersion":"v1","kind":"X","x":` + s + `}`)); err != nil {
		t.Fatal(err)
	}
	m, ok := obj.Object["x"].(map[string]any)
	if !ok {
		t.Fatalf("%s is not an object", s)
	}
	return m
}

func TestKubeFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"name": "name", "image_pull_policy": "imagePullPolicy", "config_map_key_ref": "configMapKeyRef",
		"http_get": "httpGet", "model_loading_timeout_millis": "modelLoadingTimeoutMillis",
	} {
		if got := kubeFieldName(in); got != want {
			t.Errorf("kubeFieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every field of a container survives Kubernetes JSON → typed value → Kubernetes JSON.
func TestContainerJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	container := decode(t, `{
		"name": "triton", "image": "tritonserver:23.04", "imagePullPolicy": "IfNotPresent",
		"command": ["/bin/sh"], "args": ["-c", "exec tritonserver"], "workingDir": "/w",
		"env": [
			{"name": "A", "value": "1"},
			{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}},
			{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
			{"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}}
		],
		"ports": [{"containerPort": 8001, "name": "grpc", "protocol": "TCP"}],
		"resources": {"requests": {"cpu": "500m", "memory": "1024Mi"}, "limits": {"cpu": "5"}},
		"volumeMounts": [{"name": "cache", "mountPath": "/cache", "readOnly": true, "subPath": "x"}],
		"livenessProbe": {"exec": {"command": ["curl", "--fail"]}, "initialDelaySeconds": 5, "periodSeconds": 30,
			"timeoutSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
		"readinessProbe": {"httpGet": {"path": "/ready", "port": 8000, "scheme": "HTTP",
			"httpHeaders": [{"name": "X", "value": "y"}]}},
		"startupProbe": {"tcpSocket": {"port": "grpc", "host": "127.0.0.1"}}
	}`)
	v, err := valueFromJSON(ctx, container, containerType)
	if err != nil {
		t.Fatal(err)
	}
	back, complete, err := valueToJSON(ctx, v)
	if err != nil || !complete {
		t.Fatalf("valueToJSON: complete %v, %v", complete, err)
	}
	if !reflect.DeepEqual(back, container) {
		t.Errorf("round trip changed the container:\n got %v\nwant %v", back, container)
	}
	// A quantity written as a number by another tool reads as its string.
	container["resources"] = map[string]any{"limits": map[string]any{"cpu": int64(2)}}
	v, err = valueFromJSON(ctx, container, containerType)
	if err != nil {
		t.Fatal(err)
	}
	back, _, _ = valueToJSON(ctx, v)
	if got, _ := back.(map[string]any); !reflect.DeepEqual(got["resources"], map[string]any{"limits": map[string]any{"cpu": "2"}}) {
		t.Errorf("numeric quantity: got %v", got["resources"])
	}
}

func TestValueToJSONLeavesUnknownsOut(t *testing.T) {
	ctx := context.Background()
	obj := types.ObjectValueMust(map[string]attr.Type{"image": types.StringType, "args": types.ListType{ElemType: types.StringType}},
		map[string]attr.Value{"image": types.StringUnknown(), "args": types.ListNull(types.StringType)})
	j, complete, err := valueToJSON(ctx, obj)
	if err != nil || complete || !reflect.DeepEqual(j, map[string]any{}) {
		t.Errorf("got %v, complete %v, err %v; want an empty object, incomplete", j, complete, err)
	}
}

func mlserverPreset(t *testing.T, preset string) types.Object {
	t.Helper()
	v, err := valueFromJSON(context.Background(), decode(t, preset), mlserverType)
	if err != nil {
		t.Fatal(err)
	}
	obj, ok := v.(types.Object)
	if !ok {
		t.Fatalf("%T", v)
	}
	return obj
}

func TestMLServerPresetExpandsAndIsRecognised(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		preset  string
		wantEnv []string
	}{
		{`{"image": "mlserver:1", "debug": false}`, nil},
		{`{"image": "mlserver:1", "implementation": "m.C", "debug": true,
		   "resources": {"limits": {"memory": "1Gi"}}, "env": [{"name": "X", "value": "1"}]}`,
			[]string{"MLSERVER_MODEL_IMPLEMENTATION=m.C", "MLSERVER_DEBUG=true", "MLSERVER_MODEL_PARALLEL_WORKERS=0", "X=1"}},
	} {
		preset := mlserverPreset(t, tc.preset)
		container, complete, err := expandMLServer(ctx, preset)
		if err != nil || !complete {
			t.Fatalf("%s: complete %v, %v", tc.preset, complete, err)
		}
		var env []string
		items, _ := container["env"].([]any)
		for _, e := range items {
			m, _ := e.(map[string]any)
			env = append(env, fmt.Sprintf("%v=%v", m["name"], m["value"]))
		}
		want := []string{"MLSERVER_MODELS_DIR=/models/_mlserver_models/", "MLSERVER_GRPC_PORT=8001", "MLSERVER_HTTP_PORT=8002",
			"MLSERVER_LOAD_MODELS_AT_STARTUP=false", "MLSERVER_MODEL_NAME=dummy-model-fixme", "MLSERVER_HOST=127.0.0.1",
			"MLSERVER_GRPC_MAX_MESSAGE_LENGTH=-1"}
		if want = append(want, tc.wantEnv...); !reflect.DeepEqual(env, want) {
			t.Errorf("%s: env\n got %v\nwant %v", tc.preset, env, want)
		}
		if container["name"] != "mlserver" || container["image"] != "mlserver:1" {
			t.Errorf("%s: container %v", tc.preset, container)
		}

		// What the cluster returns (JSON, int64) is recognised as the same preset on import.
		b, _ := json.Marshal(container)
		detected, ok := detectMLServer(ctx, decode(t, string(b)))
		if !ok || !detected.Equal(preset) {
			t.Errorf("%s: detected %v (%v), want %v", tc.preset, detected, ok, preset)
		}
	}

	// A container the preset would not produce is not the preset.
	for _, other := range []string{
		`{"name": "mlserver", "image": "i", "env": [{"name": "MLSERVER_MODELS_DIR", "value": "/elsewhere"}]}`,
		`{"name": "mlserver", "image": "i", "args": ["x"], "env": ` + mustJSON(t, envJSON(mlserverEnv)) + `}`,
		`{"name": "triton", "image": "i"}`,
	} {
		if _, ok := detectMLServer(ctx, decode(t, other)); ok {
			t.Errorf("%s recognised as the preset", other)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// emptyRuntimeModel has every attribute null, with the types the schema gives them.
func emptyRuntimeModel() runtimeModel {
	return runtimeModel{
		ID: types.StringNull(), Name: types.StringValue("r"),
		Labels: types.MapNull(types.StringType), Annotations: types.MapNull(types.StringType),
		SupportedModelFormats: types.ListNull(formatType), MultiModel: types.BoolNull(), Disabled: types.BoolNull(),
		ProtocolVersions: types.ListNull(types.StringType), GRPCEndpoint: types.StringNull(),
		GRPCDataEndpoint: types.StringNull(), HTTPDataEndpoint: types.StringNull(), Replicas: types.Int64Null(),
		StorageHelperDisabled: types.BoolNull(), BuiltInAdapter: types.ObjectNull(adapterType.AttrTypes),
		Containers: types.ListNull(containerType), MLServer: types.ObjectNull(mlserverType.AttrTypes),
		Volumes: types.ListNull(volumeType), NodeSelector: types.MapNull(types.StringType),
		Tolerations: types.ListNull(schemaType[types.ListType](runtimeTypes["tolerations"]).ElemType),
		Affinity:    jsonObjectNull(), ImagePullSecrets: types.ListNull(types.StringType),
		PodLabels: types.MapNull(types.StringType), PodAnnotations: types.MapNull(types.StringType),
		SpecOverridesJSON: jsonObjectNull(), ForceConflicts: types.BoolValue(false),
	}
}

func TestPlanRuntime(t *testing.T) {
	ctx := context.Background()

	t.Run("preset fills what is unset", func(t *testing.T) {
		config := emptyRuntimeModel()
		config.MLServer = mlserverPreset(t, `{"image": "mlserver:1", "debug": false}`)
		config.GRPCEndpoint = types.StringValue("port:9000")
		config.BuiltInAdapter = types.ObjectValueMust(adapterType.AttrTypes, map[string]attr.Value{
			"server_type": types.StringNull(), "runtime_management_port": types.Int64Null(), "mem_buffer_bytes": types.Int64Null(),
			"model_loading_timeout_millis": types.Int64Value(120000), "env": types.ListNull(envType),
		})
		plan := config
		if diags := planRuntime(ctx, &plan, config); diags.HasError() {
			t.Fatal(diags)
		}
		adapter := plan.BuiltInAdapter.Attributes()
		for name, want := range map[string]attr.Value{
			"server_type": types.StringValue("mlserver"), "runtime_management_port": types.Int64Value(8001),
			"mem_buffer_bytes": types.Int64Value(134217728), "model_loading_timeout_millis": types.Int64Value(120000),
		} {
			if !adapter[name].Equal(want) {
				t.Errorf("built_in_adapter.%s = %v, want %v", name, adapter[name], want)
			}
		}
		if plan.GRPCEndpoint.ValueString() != "port:9000" || plan.GRPCDataEndpoint.ValueString() != "port:8001" {
			t.Errorf("endpoints: %v %v", plan.GRPCEndpoint, plan.GRPCDataEndpoint)
		}
		if !plan.MultiModel.ValueBool() || len(plan.ProtocolVersions.Elements()) != 1 {
			t.Errorf("multi_model %v, protocol_versions %v", plan.MultiModel, plan.ProtocolVersions)
		}
		if len(plan.Containers.Elements()) != 1 {
			t.Errorf("containers: %v", plan.Containers)
		}
	})

	t.Run("unknown preset values", func(t *testing.T) {
		config := emptyRuntimeModel()
		config.MLServer = mlserverPreset(t, `{"image": "mlserver:1", "debug": false}`)
		attrs := config.MLServer.Attributes()
		attrs["image"] = types.StringUnknown()
		config.MLServer = types.ObjectValueMust(mlserverType.AttrTypes, attrs)
		plan := config
		planRuntime(ctx, &plan, config)
		if !plan.Containers.IsUnknown() || plan.GRPCEndpoint.ValueString() != "port:8085" {
			t.Errorf("containers %v, grpc_endpoint %v", plan.Containers, plan.GRPCEndpoint)
		}

		config.MLServer = types.ObjectUnknown(mlserverType.AttrTypes)
		plan = config
		planRuntime(ctx, &plan, config)
		if !plan.Containers.IsUnknown() || !plan.GRPCEndpoint.IsUnknown() || !plan.BuiltInAdapter.IsUnknown() {
			t.Errorf("with the preset itself unknown, what it decides must be unknown: %v %v", plan.Containers, plan.GRPCEndpoint)
		}
	})

	t.Run("no preset leaves computed attributes unset", func(t *testing.T) {
		config := emptyRuntimeModel()
		plan := config
		plan.GRPCEndpoint, plan.MultiModel = types.StringUnknown(), types.BoolUnknown()
		planRuntime(ctx, &plan, config)
		if !plan.GRPCEndpoint.IsNull() || !plan.MultiModel.IsNull() || !plan.BuiltInAdapter.IsNull() {
			t.Errorf("got %v %v %v", plan.GRPCEndpoint, plan.MultiModel, plan.BuiltInAdapter)
		}
	})
}

func TestSpecOverrides(t *testing.T) {
	typed := func() map[string]any {
		return decode(t, `{"grpcEndpoint": "port:8085", "containers": [{"name": "mlserver", "image": "i", "env": [{"name": "A", "value": "1"}]}],
			"builtInAdapter": {"serverType": "mlserver"}}`)
	}
	for _, tc := range []struct {
		overrides, wantErr string
		lenient            bool
	}{
		{overrides: `{"containers": [{"name": "mlserver", "securityContext": {"runAsNonRoot": true},
			"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}]}`},
		{overrides: `{"builtInAdapter": {"newField": 1}, "storageHelper": {"newField": true}}`},
		{overrides: `{"grpcEndpoint": "port:1"}`, wantErr: "spec.grpcEndpoint is set through a typed attribute"},
		{overrides: `{"containers": [{"name": "mlserver", "env": [{"name": "A", "value": "2"}]}]}`,
			wantErr: "spec.containers[name=mlserver].env[name=A].value is set through a typed attribute"},
		{overrides: `{"containers": [{"name": "other", "tty": true}]}`, wantErr: `there is no typed item named "other"`},
		{overrides: `{"containers": [{"name": "other", "tty": true}]}`, lenient: true},
		{overrides: `{"tolerations": []}`, wantErr: "spec.tolerations is set through a typed attribute"},
		{overrides: `{"affinity": {"podAffinity": {}}}`, wantErr: "spec.affinity is set through a typed attribute"},
		{overrides: `{"builtInAdapter": 1}`, wantErr: "spec.builtInAdapter must be an object"},
	} {
		spec := typed()
		err := mergeSpecOverrides(spec, decode(t, tc.overrides), tc.lenient)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.overrides, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.overrides, err)
		}
	}

	spec := typed()
	overrides := decode(t, `{"containers": [{"name": "mlserver", "securityContext": {"runAsNonRoot": true}}], "builtInAdapter": {"x": 1}}`)
	if err := mergeSpecOverrides(spec, overrides, false); err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{"grpcEndpoint": "port:8085", "containers": [{"name": "mlserver", "image": "i", "env": [{"name": "A", "value": "1"}],
		"securityContext": {"runAsNonRoot": true}}], "builtInAdapter": {"serverType": "mlserver", "x": 1}}`)
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("merged:\n got %v\nwant %v", spec, want)
	}
	// Reading back: the live values at the override's paths, and only those.
	spec = decode(t, `{"grpcEndpoint": "port:8085", "replicas": 3, "builtInAdapter": {"serverType": "mlserver", "x": 1},
		"containers": [{"name": "mlserver", "image": "i", "securityContext": {"runAsNonRoot": false}}]}`)
	got := projectOverrides(spec, overrides, specShape)
	if want := decode(t, `{"containers": [{"name": "mlserver", "securityContext": {"runAsNonRoot": false}}], "builtInAdapter": {"x": 1}}`); !reflect.DeepEqual(got, want) {
		t.Errorf("projected:\n got %v\nwant %v", got, want)
	}
	// On import: what no typed attribute covers.
	if got := residualSpec(spec, specShape); !reflect.DeepEqual(got, decode(t,
		`{"containers": [{"name": "mlserver", "securityContext": {"runAsNonRoot": false}}], "builtInAdapter": {"x": 1}}`)) {
		t.Errorf("residual: %v", got)
	}
}

// liveRuntime is a runtime as the API server returns it, with the given fields owned by our
// manager and the rest by another.
func liveRuntime(t *testing.T, object, ours string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{Object: decode(t, object)}
	obj.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: testManager, Operation: metav1.ManagedFieldsOperationApply, FieldsV1: metav1.NewFieldsV1(ours)},
		{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:replicas":{}}}`)},
	})
	return obj
}

const liveMLServer = `{
	"metadata": {"name": "r", "namespace": "ns", "labels": {"ours": "1", "theirs": "2"}},
	"spec": {
		"grpcEndpoint": "port:8085", "grpcDataEndpoint": "port:8001", "replicas": 4,
		"nodeSelector": {"ours": "a", "theirs": "b"},
		"builtInAdapter": {"serverType": "mlserver", "runtimeManagementPort": 8001},
		"containers": [{"name": "mlserver", "image": "mlserver:1", "securityContext": {"runAsNonRoot": true},
			"env": [{"name": "MLSERVER_MODELS_DIR", "value": "/models/_mlserver_models/"}, {"name": "MLSERVER_GRPC_PORT", "value": "8001"},
				{"name": "MLSERVER_HTTP_PORT", "value": "8002"}, {"name": "MLSERVER_LOAD_MODELS_AT_STARTUP", "value": "false"},
				{"name": "MLSERVER_MODEL_NAME", "value": "dummy-model-fixme"}, {"name": "MLSERVER_HOST", "value": "127.0.0.1"},
				{"name": "MLSERVER_GRPC_MAX_MESSAGE_LENGTH", "value": "-1"}]}]
	}
}`

const ourFields = `{"f:metadata": {"f:labels": {"f:ours": {}}}, "f:spec": {"f:grpcEndpoint": {}, "f:grpcDataEndpoint": {},
	"f:nodeSelector": {"f:ours": {}}, "f:builtInAdapter": {"f:serverType": {}, "f:runtimeManagementPort": {}}, "f:containers": {}}}`

func TestReadRuntimeImport(t *testing.T) {
	ctx := context.Background()
	obj := liveRuntime(t, liveMLServer, ourFields)
	owned, err := kube.Owned(obj, testManager)
	if err != nil {
		t.Fatal(err)
	}
	m := emptyRuntimeModel()
	if err := readRuntime(ctx, &m, obj, owned); err != nil {
		t.Fatal(err)
	}
	if !m.Replicas.IsNull() {
		t.Errorf("replicas is kubectl's, not ours: got %v", m.Replicas)
	}
	if got := m.Labels.Elements(); len(got) != 1 || got["ours"] == nil {
		t.Errorf("labels: only our key, got %v", got)
	}
	if got := m.NodeSelector.Elements(); len(got) != 1 || got["ours"] == nil {
		t.Errorf("node_selector: only our key, got %v", got)
	}
	if m.GRPCEndpoint.ValueString() != "port:8085" || m.BuiltInAdapter.IsNull() {
		t.Errorf("owned fields not read: %v %v", m.GRPCEndpoint, m.BuiltInAdapter)
	}
	if m.MLServer.IsNull() {
		t.Error("the preset's container was not recognised")
	}
	if got := m.SpecOverridesJSON.ValueString(); got != `{"containers":[{"name":"mlserver","securityContext":{"runAsNonRoot":true}}]}` {
		t.Errorf("spec_overrides_json: %s", got)
	}
}

func TestReadRuntimeRefresh(t *testing.T) {
	ctx := context.Background()
	// kubectl took grpcDataEndpoint over and changed it; a prior value keeps it visible as drift.
	obj := liveRuntime(t, strings.Replace(liveMLServer, `"grpcDataEndpoint": "port:8001"`, `"grpcDataEndpoint": "port:9001"`, 1),
		strings.Replace(ourFields, `"f:grpcDataEndpoint": {},`, "", 1))
	owned, err := kube.Owned(obj, testManager)
	if err != nil {
		t.Fatal(err)
	}
	m := emptyRuntimeModel()
	m.Containers = types.ListUnknown(containerType) // anything but null: not an import
	m.GRPCDataEndpoint = types.StringValue("port:8001")
	m.Labels = types.MapValueMust(types.StringType, map[string]attr.Value{"ours": types.StringValue("1")})
	if err := readRuntime(ctx, &m, obj, owned); err != nil {
		t.Fatal(err)
	}
	if m.GRPCDataEndpoint.ValueString() != "port:9001" {
		t.Errorf("grpc_data_endpoint: want the drifted value, got %v", m.GRPCDataEndpoint)
	}
	if !m.MLServer.IsNull() || !m.SpecOverridesJSON.IsNull() || !m.Replicas.IsNull() {
		t.Errorf("attributes null before a refresh must stay null: %v %v %v", m.MLServer, m.SpecOverridesJSON, m.Replicas)
	}
	if len(m.Labels.Elements()) != 1 {
		t.Errorf("labels: %v", m.Labels)
	}
}

func TestSemanticEquality(t *testing.T) {
	ctx := context.Background()
	q := func(s string) quantityValue { return quantityValue{StringValue: types.StringValue(s)} }
	for _, tc := range []struct {
		a, b  string
		equal bool
	}{{"1024Mi", "1Gi", true}, {"1", "1000m", true}, {"0.5", "500m", true}, {"1Gi", "1G", false}, {"2", "1", false}} {
		if got, _ := q(tc.a).StringSemanticEquals(ctx, q(tc.b)); got != tc.equal {
			t.Errorf("quantities %s and %s: equal %v, want %v", tc.a, tc.b, got, tc.equal)
		}
	}
	j := func(s string) jsonObjectValue { return jsonObjectValue{StringValue: types.StringValue(s)} }
	if eq, _ := j(`{"a": 1, "b": [1, 2]}`).StringSemanticEquals(ctx, j(`{"b":[1,2],"a":1}`)); !eq {
		t.Error("JSON differing in formatting and key order must be equal")
	}
	if eq, _ := j(`{"b": [2, 1]}`).StringSemanticEquals(ctx, j(`{"b":[1,2]}`)); eq {
		t.Error("JSON lists in another order are not equal")
	}
}

func TestValidators(t *testing.T) {
	ctx := context.Background()
	check := func(v validator.String, value string) bool {
		resp := &validator.StringResponse{}
		v.ValidateString(ctx, validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(value)}, resp)
		return !resp.Diagnostics.HasError()
	}
	for _, tc := range []struct {
		v     validator.String
		value string
		ok    bool
	}{
		{endpoint(), "port:8085", true}, {endpoint(), "unix:/tmp/mlserver.sock", true}, {endpoint(), "port:0", false},
		{endpoint(), "port:65536", false}, {endpoint(), "unix:", false}, {endpoint(), "8085", false},
		{portNumberOrName(), "8080", true}, {portNumberOrName(), "grpc", true}, {portNumberOrName(), "0", false},
		{quantity(), "1Gi", true}, {quantity(), "1GB", false}, {envVarName(), "MLSERVER_DEBUG", true}, {envVarName(), "1X", false},
		{dnsSubdomain(), "mlserver-1.x", true}, {dnsLabel(), "mlserver-1.x", false}, {notPresetEnv(), "MLSERVER_DEBUG", false},
		{jsonObjectString(), `{"a":1}`, true}, {jsonObjectString(), `null`, false}, {jsonObjectString(), `[1]`, false},
	} {
		if got := check(tc.v, tc.value); got != tc.ok {
			t.Errorf("%s on %q: valid %v, want %v", tc.v.Description(ctx), tc.value, got, tc.ok)
		}
	}
	// Unknown values flowing between modules are checked later, not rejected.
	resp := &validator.StringResponse{}
	endpoint().ValidateString(ctx, validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringUnknown()}, resp)
	if resp.Diagnostics.HasError() {
		t.Error("an unknown value must not be rejected")
	}

	names := func(ns ...attr.Value) types.List {
		elems := make([]attr.Value, len(ns))
		for i, n := range ns {
			elems[i] = types.ObjectValueMust(map[string]attr.Type{"name": types.StringType}, map[string]attr.Value{"name": n})
		}
		return types.ListValueMust(types.ObjectType{AttrTypes: map[string]attr.Type{"name": types.StringType}}, elems)
	}
	for _, tc := range []struct {
		list types.List
		ok   bool
	}{
		{names(types.StringValue("a"), types.StringValue("b")), true},
		{names(types.StringValue("a"), types.StringValue("a")), false},
		{names(types.StringUnknown(), types.StringValue("a")), true},
	} {
		resp := &validator.ListResponse{}
		uniqueNames.ValidateList(ctx, validator.ListRequest{Path: path.Root("l"), ConfigValue: tc.list}, resp)
		if resp.Diagnostics.HasError() == tc.ok {
			t.Errorf("uniqueNames on %v: %v", tc.list, resp.Diagnostics)
		}
	}
}
