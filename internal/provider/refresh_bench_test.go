package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
)

// BenchmarkRefresh measures what the provider adds to a refresh (issue 9): per object, the RPCs
// terraform makes for it in a no-change plan (ValidateResourceConfig, UpgradeResourceState, ReadResource,
// PlanResourceChange), served in-process through the tfprotov6 interface with the state of a real
// apply, next to a direct client-go GET of the same object (the floor). cpu-ns/op is this
// process's CPU time per call: the apiserver runs in its own process, so it is the provider's (or
// client-go's) own cost; ReadResource also reports both figures over the floor's.
//
//	KUBEBUILDER_ASSETS=$(tools/k8s/build.sh) go test -run '^$' -bench Refresh -cpuprofile /tmp/cpu.out ./internal/provider/
//	go tool pprof -top /tmp/cpu.out
//
// It starts a stack of its own, so it needs no TF_ACC. In-process there is no logger in the
// context, so the SDK's log calls cost nothing here; in a real plan they did (see main.go).
func BenchmarkRefresh(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Skip("needs kube-apiserver and etcd: set KUBEBUILDER_ASSETS=$(tools/k8s/build.sh)")
	}
	ctx := context.Background()
	stack, err := localstack.Start(ctx, localstack.Options{ModelMesh: mmeshfake.Options{LoadDelay: 10 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stack.Stop() })
	const namespace = "bench-refresh"
	if err := stack.Cluster.CreateNamespace(ctx, namespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		b.Fatal(err)
	}

	// Served as main serves it, unguarded: PlanResourceChange is timed both through planfast and
	// through the framework alone.
	p := &asmProvider{version: "test"}
	framework := providerserver.NewProtocol6(p)()
	fast := planfast.New(framework, p, false)
	server := tfprotov6.ProviderServer(fast)
	schemas, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		b.Fatal(err)
	}
	configured, err := server.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{
		Config: configValue(b, schemas.Provider, map[string]any{"kubernetes": map[string]any{"config_path": stack.Kubeconfig}}),
	})
	if err := rpcError(configured, err); err != nil {
		b.Fatal(err)
	}
	client, err := dynamic.NewForConfig(stack.RESTConfig())
	if err != nil {
		b.Fatal(err)
	}

	// The objects of bench/main.go's configuration.
	objects := []struct {
		typeName, name string
		kind           kube.Kind
		config         map[string]any
	}{
		{"asm_serving_runtime", "bench-rt", kube.ServingRuntime, map[string]any{
			"name": "bench-rt", "namespace": namespace,
			"supported_model_formats": []any{map[string]any{"name": "sklearn", "version": "0"}},
			"mlserver":                map[string]any{"image": "seldonio/mlserver:1.3.2", "implementation": "mlserver_sklearn.SKLearnModel"},
		}},
		{"asm_inference_service", "bench-m", kube.InferenceService, map[string]any{
			"name": "bench-m", "namespace": namespace, "runtime": "bench-rt",
			"model_format": map[string]any{"name": "sklearn"},
			"storage_uri":  "s3://bench-models/sklearn/m.joblib",
		}},
	}
	for _, o := range objects {
		s := schemas.ResourceSchemas[o.typeName]
		config := configValue(b, s, o.config)
		state, private := create(ctx, b, server, o.typeName, s, config)

		var floorWall, floorCPU time.Duration
		b.Run(o.typeName+"/floor-GET", func(b *testing.B) {
			res := client.Resource(o.kind.GVR).Namespace(namespace)
			floorWall, floorCPU = measure(b, func() error {
				_, err := res.Get(ctx, o.name, metav1.GetOptions{})
				return err
			})
		})
		b.Run(o.typeName+"/UpgradeResourceState", func(b *testing.B) {
			raw := stateJSON(b, s, state)
			measure(b, func() error {
				resp, err := server.UpgradeResourceState(ctx, &tfprotov6.UpgradeResourceStateRequest{
					TypeName: o.typeName, Version: s.Version, RawState: &tfprotov6.RawState{JSON: raw},
				})
				return rpcError(resp, err)
			})
		})
		read := func() (*tfprotov6.DynamicValue, error) {
			resp, err := server.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: o.typeName, CurrentState: state, Private: private})
			if err := rpcError(resp, err); err != nil {
				return nil, err
			}
			return resp.NewState, nil
		}
		planWith := func(server tfprotov6.ProviderServer) (*tfprotov6.DynamicValue, error) {
			resp, err := server.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
				TypeName: o.typeName, PriorState: state, ProposedNewState: state, Config: config, PriorPrivate: private,
			})
			if err := rpcError(resp, err); err != nil {
				return nil, err
			}
			return resp.PlannedState, nil
		}
		plan := func() (*tfprotov6.DynamicValue, error) { return planWith(server) }
		// Both must find nothing to change, or this would not time a no-change plan.
		sameValue(b, s, state, read, "the refresh found drift")
		fastBefore := fast.FastPlans()
		sameValue(b, s, state, plan, "the plan has changes")
		if fast.FastPlans() == fastBefore {
			b.Fatalf("%s: the no-change plan did not take planfast's path", o.typeName)
		}
		b.Run(o.typeName+"/ReadResource", func(b *testing.B) {
			wall, cpu := measure(b, func() error { _, err := read(); return err })
			b.ReportMetric(float64(wall)/float64(floorWall), "wall/floor")
			b.ReportMetric(float64(cpu)/float64(floorCPU), "cpu/floor")
		})
		b.Run(o.typeName+"/PlanResourceChange", func(b *testing.B) {
			measure(b, func() error { _, err := plan(); return err })
		})
		b.Run(o.typeName+"/PlanResourceChange-framework", func(b *testing.B) {
			measure(b, func() error { _, err := planWith(framework); return err })
		})
		// Terraform validates each resource block before every plan (issue 31's profile).
		b.Run(o.typeName+"/ValidateResourceConfig", func(b *testing.B) {
			measure(b, func() error {
				resp, err := server.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: o.typeName, Config: config})
				return rpcError(resp, err)
			})
		})
	}
	b.Run("GetProviderSchema", func(b *testing.B) {
		measure(b, func() error {
			// A fresh server each time: terraform starts the provider for each command.
			s, err := providerserver.NewProtocol6WithError(New("test")())()
			if err != nil {
				return err
			}
			resp, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
			return rpcError(resp, err)
		})
	})
}

// measure runs f b.N times, reports this process's CPU time per call, and returns the wall and
// CPU time per call.
func measure(b *testing.B, f func() error) (wall, cpu time.Duration) {
	b.Helper()
	cpu0 := processCPU(b)
	start := time.Now()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	wall = time.Since(start) / time.Duration(b.N)
	cpu = (processCPU(b) - cpu0) / time.Duration(b.N)
	b.ReportMetric(float64(cpu), "cpu-ns/op")
	return wall, cpu
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// create plans and applies the object as terraform would, and returns its state and private state.
func create(ctx context.Context, b *testing.B, server tfprotov6.ProviderServer, typeName string, s *tfprotov6.Schema, config *tfprotov6.DynamicValue) (*tfprotov6.DynamicValue, []byte) {
	b.Helper()
	null, err := tfprotov6.NewDynamicValue(s.ValueType(), tftypes.NewValue(s.ValueType(), nil))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := server.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName: typeName, PriorState: &null, ProposedNewState: config, Config: config,
	})
	if err := rpcError(plan, err); err != nil {
		b.Fatalf("plan %s: %v", typeName, err)
	}
	applied, err := server.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName: typeName, PriorState: &null, PlannedState: plan.PlannedState, Config: config, PlannedPrivate: plan.PlannedPrivate,
	})
	if err := rpcError(applied, err); err != nil {
		b.Fatalf("apply %s: %v", typeName, err)
	}
	return applied.NewState, applied.Private
}

// rpcError is err, or the first error diagnostic of resp.
func rpcError(resp any, err error) error {
	if err != nil {
		return err
	}
	var diags []*tfprotov6.Diagnostic
	switch r := resp.(type) {
	case *tfprotov6.ConfigureProviderResponse:
		diags = r.Diagnostics
	case *tfprotov6.UpgradeResourceStateResponse:
		diags = r.Diagnostics
	case *tfprotov6.ValidateResourceConfigResponse:
		diags = r.Diagnostics
	case *tfprotov6.ReadResourceResponse:
		diags = r.Diagnostics
	case *tfprotov6.PlanResourceChangeResponse:
		diags = r.Diagnostics
	case *tfprotov6.ApplyResourceChangeResponse:
		diags = r.Diagnostics
	case *tfprotov6.GetProviderSchemaResponse:
		diags = r.Diagnostics
	default:
		return fmt.Errorf("unexpected response %T", resp)
	}
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			return fmt.Errorf("%s: %s", d.Summary, d.Detail)
		}
	}
	return nil
}

// sameValue fails the benchmark unless rpc returns want.
func sameValue(b *testing.B, s *tfprotov6.Schema, want *tfprotov6.DynamicValue, rpc func() (*tfprotov6.DynamicValue, error), what string) {
	b.Helper()
	got, err := rpc()
	if err != nil {
		b.Fatal(err)
	}
	w, err := want.Unmarshal(s.ValueType())
	if err != nil {
		b.Fatal(err)
	}
	g, err := got.Unmarshal(s.ValueType())
	if err != nil {
		b.Fatal(err)
	}
	if diff, err := w.Diff(g); err != nil || len(diff) > 0 {
		b.Fatalf("%s: %v %v", what, diff, err)
	}
}

// configValue is the msgpack value terraform sends for a configuration: the attributes given,
// every other one null.
func configValue(b testing.TB, s *tfprotov6.Schema, attrs map[string]any) *tfprotov6.DynamicValue {
	b.Helper()
	t := s.ValueType()
	dv, err := tfprotov6.NewDynamicValue(t, tfValue(b, t, attrs))
	if err != nil {
		b.Fatal(err)
	}
	return &dv
}

// tfValue builds a value of type t from plain Go values (maps for objects and maps, slices for
// lists); nil and missing object attributes are null.
func tfValue(b testing.TB, t tftypes.Type, v any) tftypes.Value {
	if v == nil {
		return tftypes.NewValue(t, nil)
	}
	m, isMap := v.(map[string]any)
	l, isList := v.([]any)
	switch tt := t.(type) {
	case tftypes.Object:
		attrs := make(map[string]tftypes.Value, len(tt.AttributeTypes))
		for name, at := range tt.AttributeTypes {
			attrs[name] = tfValue(b, at, m[name])
		}
		if !isMap {
			b.Fatalf("%T for %s", v, t)
		}
		return tftypes.NewValue(t, attrs)
	case tftypes.List:
		elems := make([]tftypes.Value, 0, len(l))
		for _, e := range l {
			elems = append(elems, tfValue(b, tt.ElementType, e))
		}
		if !isList {
			b.Fatalf("%T for %s", v, t)
		}
		return tftypes.NewValue(t, elems)
	case tftypes.Map:
		elems := make(map[string]tftypes.Value, len(m))
		for k, e := range m {
			elems[k] = tfValue(b, tt.ElementType, e)
		}
		if !isMap {
			b.Fatalf("%T for %s", v, t)
		}
		return tftypes.NewValue(t, elems)
	}
	return tftypes.NewValue(t, v)
}

// stateJSON is the state as terraform keeps it in terraform.tfstate, which it sends to
// UpgradeResourceState before each plan.
func stateJSON(b *testing.B, s *tfprotov6.Schema, state *tfprotov6.DynamicValue) []byte {
	b.Helper()
	v, err := state.Unmarshal(s.ValueType())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.Marshal(plainValue(b, v))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// plainValue is the inverse of tfValue, for JSON.
func plainValue(b *testing.B, v tftypes.Value) any {
	if v.IsNull() {
		return nil
	}
	var err error
	var out any
	switch t := v.Type(); {
	case t.Is(tftypes.Object{}), t.Is(tftypes.Map{}):
		var m map[string]tftypes.Value
		err = v.As(&m)
		elems := make(map[string]any, len(m))
		for k, e := range m {
			elems[k] = plainValue(b, e)
		}
		out = elems
	case t.Is(tftypes.List{}):
		var l []tftypes.Value
		err = v.As(&l)
		elems := make([]any, 0, len(l))
		for _, e := range l {
			elems = append(elems, plainValue(b, e))
		}
		out = elems
	case t.Is(tftypes.Number):
		var f big.Float
		err = v.As(&f)
		out = json.Number(f.Text('f', -1))
	case t.Is(tftypes.String):
		var s string
		err = v.As(&s)
		out = s
	case t.Is(tftypes.Bool):
		var x bool
		err = v.As(&x)
		out = x
	default:
		err = fmt.Errorf("unexpected type %s", t)
	}
	if err != nil {
		b.Fatal(err)
	}
	return out
}
