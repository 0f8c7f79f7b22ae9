package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
)

// The fast no-change plan (internal/planfast) through the protocol, as terraform calls it: every
// server here has the guard on, so each fast answer is also compared with the framework's and a
// difference would be an error diagnostic.

// fastServer is a guarded planfast server configured with the default namespace.
func fastServer(t *testing.T, namespace string) (*planfast.Server, *tfprotov6.GetProviderSchemaResponse) {
	t.Helper()
	p := &asmProvider{version: "test"}
	s := planfast.New(providerserver.NewProtocol6(p)(), p, true)
	ctx := context.Background()
	schemas, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err := rpcError(schemas, err); err != nil {
		t.Fatal(err)
	}
	configured, err := s.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{
		Config: configValue(t, schemas.Provider, map[string]any{"kubernetes": map[string]any{"namespace": namespace}}),
	})
	if err := rpcError(configured, err); err != nil {
		t.Fatal(err)
	}
	return s, schemas
}

// fastObject is a resource's configuration and the state a create of it leaves (the create's plan,
// what ModelMesh reports null).
type fastObject struct {
	typeName string
	typ      tftypes.Type
	config   tftypes.Value
	state    tftypes.Value
}

var fastConfigs = map[string]map[string]any{
	"asm_serving_runtime": {
		"name":                    "rt",
		"supported_model_formats": []any{map[string]any{"name": "sklearn", "version": "0"}},
		"mlserver":                map[string]any{"image": "seldonio/mlserver:1.3.2", "implementation": "mlserver_sklearn.SKLearnModel"},
	},
	"asm_inference_service": {
		"name": "m", "runtime": "rt", "model_format": map[string]any{"name": "sklearn"},
		"storage_uri": "s3://models/sklearn/m.joblib",
	},
}

func newFastObject(t *testing.T, s tfprotov6.ProviderServer, schemas *tfprotov6.GetProviderSchemaResponse, typeName string) fastObject {
	t.Helper()
	typ := schemas.ResourceSchemas[typeName].ValueType()
	config := tfValue(t, typ, fastConfigs[typeName])
	null := tftypes.NewValue(typ, nil)
	resp, err := s.PlanResourceChange(context.Background(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: typeName, PriorState: dynValue(t, null), ProposedNewState: dynValue(t, config), Config: dynValue(t, config),
	})
	if err := rpcError(resp, err); err != nil {
		t.Fatal(err)
	}
	planned, err := resp.PlannedState.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	state, err := tftypes.Transform(planned, func(p *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		switch {
		case v.IsKnown():
			return v, nil
		case p.Equal(tftypes.NewAttributePath().WithAttributeName("id")):
			return tftypes.NewValue(tftypes.String, fmt.Sprint("ns-a/", fastConfigs[typeName]["name"])), nil
		}
		return tftypes.NewValue(v.Type(), nil), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fastObject{typeName: typeName, typ: typ, config: config, state: state}
}

func dynValue(t *testing.T, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(v.Type(), v)
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// with is v with the value at p replaced.
func with(t *testing.T, v tftypes.Value, p *tftypes.AttributePath, to tftypes.Value) tftypes.Value {
	t.Helper()
	out, err := tftypes.Transform(v, func(at *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		if at.Equal(p) {
			return to, nil
		}
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// planUnchanged plans config over state, proposed equal to state, and fails on an error diagnostic.
func planUnchanged(t *testing.T, s tfprotov6.ProviderServer, o fastObject, state, config tftypes.Value, private []byte) *tfprotov6.PlanResourceChangeResponse {
	t.Helper()
	resp, err := s.PlanResourceChange(context.Background(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: o.typeName, PriorState: dynValue(t, state), ProposedNewState: dynValue(t, state), Config: dynValue(t, config),
		PriorPrivate: private,
	})
	if err := rpcError(resp, err); err != nil {
		t.Fatalf("%s: %v", o.typeName, err)
	}
	return resp
}

func plannedValue(t *testing.T, o fastObject, resp *tfprotov6.PlanResourceChangeResponse) tftypes.Value {
	t.Helper()
	v, err := resp.PlannedState.Unmarshal(o.typ)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPlanFast_noChangeIsFast(t *testing.T) {
	s, schemas := fastServer(t, "ns-a")
	for _, typeName := range []string{"asm_serving_runtime", "asm_inference_service"} {
		o := newFastObject(t, s, schemas, typeName)
		before := s.FastPlans()
		resp := planUnchanged(t, s, o, o.state, o.config, nil)
		if got := s.FastPlans() - before; got != 1 {
			t.Errorf("%s: %d fast plans, want 1", typeName, got)
		}
		if len(resp.Diagnostics) > 0 || len(resp.RequiresReplace) > 0 || resp.PlannedPrivate != nil {
			t.Errorf("%s: diagnostics %v, requires replace %v, private %q", typeName, resp.Diagnostics, resp.RequiresReplace, resp.PlannedPrivate)
		}
		if diffs, err := o.state.Diff(plannedValue(t, o, resp)); err != nil || len(diffs) > 0 {
			t.Errorf("%s: the plan differs from the state: %v %v", typeName, diffs, err)
		}
	}
}

// Each case is a no-change plan the framework must answer: the fast path stays out and the
// framework's answer, which changes something, comes back.
func TestPlanFast_notFast(t *testing.T) {
	creator, schemas := fastServer(t, "ns-a")
	rt := newFastObject(t, creator, schemas, "asm_serving_runtime")
	is := newFastObject(t, creator, schemas, "asm_inference_service")
	root := tftypes.NewAttributePath()
	for _, tc := range []struct {
		name            string
		namespace       string // the provider's default namespace
		o               fastObject
		state, config   tftypes.Value
		private         []byte
		changed         *tftypes.AttributePath // planned differently from the state
		requiresReplace bool
	}{
		{name: "provider default namespace changed", namespace: "ns-b", o: is, state: is.state, config: is.config,
			changed: root.WithAttributeName("namespace"), requiresReplace: true},
		{name: "runtime default namespace changed", namespace: "ns-b", o: rt, state: rt.state, config: rt.config,
			changed: root.WithAttributeName("namespace"), requiresReplace: true},
		{name: "wait pending", namespace: "ns-a", o: is, state: is.state, config: is.config,
			private: []byte(`{"` + privateWaitPending + `":"dHJ1ZQ=="}`), changed: root.WithAttributeName("total_copies")},
		{name: "preset changes the runtime", namespace: "ns-a", o: rt, config: rt.config,
			state:   with(t, rt.state, root.WithAttributeName("containers").WithElementKeyInt(0).WithAttributeName("image"), tftypes.NewValue(tftypes.String, "other:1")),
			changed: root.WithAttributeName("containers").WithElementKeyInt(0).WithAttributeName("image")},
		{name: "default differs from the state", namespace: "ns-a", o: is, config: is.config,
			state:   with(t, is.state, root.WithAttributeName("force_conflicts"), tftypes.NewValue(tftypes.Bool, true)),
			changed: root.WithAttributeName("force_conflicts")},
		{name: "unknown configuration value", namespace: "ns-a", o: is, state: is.state,
			config: with(t, is.config, root.WithAttributeName("labels"), tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, tftypes.UnknownValue))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := fastServer(t, tc.namespace)
			resp := planUnchanged(t, s, tc.o, tc.state, tc.config, tc.private)
			if n := s.FastPlans(); n != 0 {
				t.Errorf("%d fast plans, want the framework's", n)
			}
			if got := len(resp.RequiresReplace) > 0; got != tc.requiresReplace {
				t.Errorf("requires replace %v, want %v", resp.RequiresReplace, tc.requiresReplace)
			}
			if tc.changed == nil {
				return
			}
			planned := plannedValue(t, tc.o, resp)
			want, _, err := tftypes.WalkAttributePath(tc.state, tc.changed)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := tftypes.WalkAttributePath(planned, tc.changed)
			if err != nil {
				t.Fatal(err)
			}
			g, gotValue := got.(tftypes.Value)
			w, wantValue := want.(tftypes.Value)
			if !gotValue || !wantValue || g.Equal(w) {
				t.Errorf("%s planned %s as in the state: the case plans no change", tc.changed, got)
			}
		})
	}
}
