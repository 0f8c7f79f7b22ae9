package planfast

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// testProvider serves one resource type, test_thing, with the given schema attributes and blocks
// beside "name" (RequiresReplace) and "value" (Optional+Computed).
type testProvider struct {
	attrs  map[string]schema.Attribute
	blocks map[string]schema.Block
	keeps  bool // what test_thing's PlanKeepsPrior says
}

func (p *testProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "test"
}
func (p *testProvider) Schema(context.Context, provider.SchemaRequest, *provider.SchemaResponse) {}
func (p *testProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}
func (p *testProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }
func (p *testProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return &thing{p} }}
}
func (p *testProvider) Configured() (any, bool) { return nil, false }

type thing struct{ p *testProvider }

func (r *thing) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_thing"
}

func (r *thing) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]schema.Attribute{
		"name":  schema.StringAttribute{Required: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
		"value": schema.StringAttribute{Optional: true, Computed: true},
	}
	for k, v := range r.p.attrs {
		attrs[k] = v
	}
	resp.Schema = schema.Schema{Attributes: attrs, Blocks: r.p.blocks}
}

// ModifyPlan plans "value" as "planned" when it is not configured: a plan the fast path must not
// answer, which PlanKeepsPrior may lie about.
func (r *thing) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	var configured types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, valuePath, &configured)...)
	if !req.Plan.Raw.IsNull() && configured.IsNull() {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, valuePath, types.StringValue("planned"))...)
	}
}

func (r *thing) PlanKeepsPrior(context.Context, tfsdk.Config, tfsdk.State) bool { return r.p.keeps }

func (r *thing) Create(context.Context, resource.CreateRequest, *resource.CreateResponse) {}
func (r *thing) Read(context.Context, resource.ReadRequest, *resource.ReadResponse)       {}
func (r *thing) Update(context.Context, resource.UpdateRequest, *resource.UpdateResponse) {}
func (r *thing) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

var valuePath = path.Root("value")

func serve(t *testing.T, p *testProvider, guard bool) *Server {
	t.Helper()
	s := New(providerserver.NewProtocol6(p)(), p, guard)
	ctx := context.Background()
	if _, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	empty, err := tfprotov6.NewDynamicValue(tftypes.Object{}, tftypes.NewValue(tftypes.Object{}, map[string]tftypes.Value{}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: &empty})
	if err != nil || hasError(resp.Diagnostics) {
		t.Fatalf("configure: %v %v", err, resp.Diagnostics)
	}
	return s
}

// planNoChange plans state again from a configuration that sets only its name.
func planNoChange(t *testing.T, s *Server, typ tftypes.Type, state tftypes.Value) *tfprotov6.PlanResourceChangeResponse {
	t.Helper()
	config := with(t, state, "value", tftypes.NewValue(tftypes.String, nil))
	if _, ok := typ.(tftypes.Object).AttributeTypes["flag"]; ok {
		config = with(t, config, "flag", tftypes.NewValue(tftypes.Bool, nil))
	}
	dv := func(v tftypes.Value) *tfprotov6.DynamicValue {
		d, err := tfprotov6.NewDynamicValue(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		return &d
	}
	resp, err := s.PlanResourceChange(context.Background(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: "test_thing", PriorState: dv(state), ProposedNewState: dv(state), Config: dv(config),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func with(t *testing.T, v tftypes.Value, attr string, to tftypes.Value) tftypes.Value {
	t.Helper()
	var m map[string]tftypes.Value
	if err := v.As(&m); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]tftypes.Value, len(m))
	for k, e := range m {
		out[k] = e
	}
	out[attr] = to
	return tftypes.NewValue(v.Type(), out)
}

var thingType = tftypes.Object{AttributeTypes: map[string]tftypes.Type{"name": tftypes.String, "value": tftypes.String}}

func thingState() tftypes.Value {
	return tftypes.NewValue(thingType, map[string]tftypes.Value{
		"name": tftypes.NewValue(tftypes.String, "a"), "value": tftypes.NewValue(tftypes.String, "kept"),
	})
}

// A resource that vouches wrongly for a plan its ModifyPlan changes: unguarded, its wrong answer
// goes out (which is why acceptance tests run guarded); guarded, the framework's answer goes out
// with an error naming the attribute.
func TestGuardCatchesAWrongFastAnswer(t *testing.T) {
	p := &testProvider{keeps: true}
	unguarded := planNoChange(t, serve(t, p, false), thingType, thingState())
	if len(unguarded.Diagnostics) > 0 {
		t.Fatalf("unguarded: %v", unguarded.Diagnostics)
	}
	s := serve(t, p, true)
	resp := planNoChange(t, s, thingType, thingState())
	if s.FastPlans() != 1 {
		t.Errorf("%d fast plans, want 1", s.FastPlans())
	}
	if len(resp.Diagnostics) != 1 {
		t.Fatalf("diagnostics %v, want the guard's error", resp.Diagnostics)
	}
	d := resp.Diagnostics[0]
	want := tftypes.NewAttributePath().WithAttributeName("value")
	if d.Severity != tfprotov6.DiagnosticSeverityError || !d.Attribute.Equal(want) ||
		!strings.Contains(d.Detail, `"kept"`) || !strings.Contains(d.Detail, `"planned"`) {
		t.Errorf("guard diagnostic %s at %s: %s", d.Summary, d.Attribute, d.Detail)
	}
	planned, err := resp.PlannedState.Unmarshal(thingType)
	if err != nil {
		t.Fatal(err)
	}
	if !planned.Equal(with(t, thingState(), "value", tftypes.NewValue(tftypes.String, "planned"))) {
		t.Errorf("planned %s, want the framework's", planned)
	}
}

// A resource that vouches honestly is not asked when the schema could change the plan by itself.
func TestAuditKeepsOutWhatTheFrameworkMayChange(t *testing.T) {
	flagType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{"name": tftypes.String, "value": tftypes.String, "flag": tftypes.Bool}}
	flagState := func(flag bool) tftypes.Value {
		return tftypes.NewValue(flagType, map[string]tftypes.Value{"name": tftypes.NewValue(tftypes.String, "a"),
			"value": tftypes.NewValue(tftypes.String, "planned"), "flag": tftypes.NewValue(tftypes.Bool, flag)})
	}
	for _, tc := range []struct {
		name  string
		p     *testProvider
		typ   tftypes.Type
		state tftypes.Value
		fast  bool
	}{
		{name: "static default holding", typ: flagType, state: flagState(false), fast: true,
			p: &testProvider{keeps: true, attrs: map[string]schema.Attribute{
				"flag": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false)}}}},
		{name: "static default not holding", typ: flagType, state: flagState(true),
			p: &testProvider{keeps: true, attrs: map[string]schema.Attribute{
				"flag": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false)}}}},
		{name: "plan modifier not known to be a no-op", typ: flagType, state: flagState(false),
			p: &testProvider{keeps: true, attrs: map[string]schema.Attribute{
				"flag": schema.BoolAttribute{Optional: true, Computed: true, PlanModifiers: []planmodifier.Bool{flip{}}}}}},
		{name: "write-only attribute", typ: flagType, state: with(t, flagState(false), "flag", tftypes.NewValue(tftypes.Bool, nil)),
			p: &testProvider{keeps: true, attrs: map[string]schema.Attribute{
				"flag": schema.BoolAttribute{Optional: true, WriteOnly: true}}}},
		{name: "resource does not vouch", typ: flagType, state: flagState(false),
			p: &testProvider{keeps: false, attrs: map[string]schema.Attribute{"flag": schema.BoolAttribute{Optional: true}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// ModifyPlan plans "planned" for the unconfigured value, so every case's state is
			// what it plans unless the schema intervenes.
			s := serve(t, tc.p, true)
			resp := planNoChange(t, s, tc.typ, tc.state)
			if hasError(resp.Diagnostics) {
				t.Fatalf("diagnostics: %v", resp.Diagnostics)
			}
			if got := s.FastPlans() == 1; got != tc.fast {
				t.Errorf("fast %v, want %v", got, tc.fast)
			}
		})
	}
}

// flip turns the planned flag over: a modifier that changes an unchanged plan.
type flip struct{}

func (flip) Description(context.Context) string         { return "flips" }
func (flip) MarkdownDescription(context.Context) string { return "flips" }
func (flip) PlanModifyBool(_ context.Context, req planmodifier.BoolRequest, resp *planmodifier.BoolResponse) {
	resp.PlanValue = types.BoolValue(!req.PlanValue.ValueBool())
}
