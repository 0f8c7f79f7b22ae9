// Package planfast answers a no-change PlanResourceChange without the plugin framework's schema
// walk, for resource types that vouch for the answer, and checks every such answer against the
// framework's own when asked to (acceptance and unit tests).
package planfast

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Resource is implemented by a resource whose no-change plan may skip the framework.
type Resource interface {
	resource.ResourceWithModifyPlan
	// PlanKeepsPrior reports whether ModifyPlan, given this configuration and a proposed new state
	// equal to prior (schema defaults already known to hold, no private state), would leave the
	// plan as prior, require no replacement and add no diagnostic, not even a warning.
	PlanKeepsPrior(ctx context.Context, config tfsdk.Config, prior tfsdk.State) bool
}

// Provider hands over what its last Configure gave the resources, to configure them as the
// framework does, and whether it deferred them (ConfigureResponse.Deferred, which the protocol
// does not carry). Each server needs a provider instance of its own: the data is per configuration.
type Provider interface {
	provider.Provider
	Configured() (resourceData any, deferred bool)
}

// Server is the framework's protocol server with the fast path in front of PlanResourceChange.
// Embedding the interface hides the optional list, action and state-store servers, which this
// provider does not implement.
type Server struct {
	tfprotov6.ProviderServer
	provider Provider
	guard    bool

	typesOnce sync.Once
	types     map[string]*fastType // opted-in types, by name; read-only after typesOnce
	data      atomic.Pointer[configured]
	fast      atomic.Int64
}

// configured is the state ConfigureProvider leaves: the provider's data, or nothing when it deferred.
type configured struct {
	data     any
	deferred bool
}

type fastType struct {
	new      func() resource.Resource
	schema   schema.Schema
	tfType   tftypes.Type
	defaults *node // nil: no attribute has a Default
}

// EnvGuard, when set (as TF_ACC is by every acceptance test), makes each fast answer also computed
// by the framework and compared.
const EnvGuard = "TF_ACC"

// New wraps server, the framework's server for p. With guard, every fast answer is checked against
// the framework's and a difference is an error diagnostic; GuardFromEnv says when to.
func New(server tfprotov6.ProviderServer, p Provider, guard bool) *Server {
	return &Server{ProviderServer: server, provider: p, guard: guard}
}

// GuardFromEnv reports whether EnvGuard is set.
func GuardFromEnv() bool { return os.Getenv(EnvGuard) != "" }

// FastPlans counts the plans answered by the fast path.
func (s *Server) FastPlans() int64 { return s.fast.Load() }

func (s *Server) ConfigureProvider(ctx context.Context, req *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	resp, err := s.ProviderServer.ConfigureProvider(ctx, req)
	if err != nil || resp == nil || hasError(resp.Diagnostics) {
		s.data.Store(nil)
		return resp, err
	}
	// A provider that defers makes the framework answer every plan deferred (fwserver's
	// PlanResourceChange): never fast then.
	data, deferred := s.provider.Configured()
	s.data.Store(&configured{data: data, deferred: deferred})
	return resp, err
}

func (s *Server) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	fast := s.planUnchanged(ctx, req)
	if fast == nil {
		return s.ProviderServer.PlanResourceChange(ctx, req)
	}
	s.fast.Add(1)
	if !s.guard {
		return fast, nil
	}
	framework, err := s.ProviderServer.PlanResourceChange(ctx, req)
	if err != nil {
		return framework, err
	}
	if diff := s.compare(req.TypeName, fast, framework); diff != nil {
		framework.Diagnostics = append(framework.Diagnostics, diff)
		return framework, nil
	}
	return fast, nil
}

// planUnchanged is the framework's answer to a plan that changes nothing, or nil when it cannot
// prove the framework would answer that.
func (s *Server) planUnchanged(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) *tfprotov6.PlanResourceChangeResponse {
	s.typesOnce.Do(func() { s.types = optedIn(ctx, s.provider) })
	t := s.types[req.TypeName]
	c := s.data.Load()
	// Private state: the framework re-encodes it (dropping empty values), and the InferenceService's
	// plan reads it (a pending wait); only an empty one is passed through untouched for certain.
	// An identity the resource has no schema for is the framework's to refuse.
	if t == nil || c == nil || c.deferred || len(req.PriorPrivate) != 0 || req.PriorIdentity != nil ||
		req.PriorState == nil || req.ProposedNewState == nil || req.Config == nil {
		return nil
	}
	prior, err := req.PriorState.Unmarshal(t.tfType)
	if err != nil || prior.IsNull() {
		return nil
	}
	// Terraform encodes both with one msgpack encoder (go-cty's, map keys in order), so an
	// unchanged value is usually the same bytes and needs no second decoding; other encoders
	// (terraform-plugin-go's, in tests) order map keys as Go's maps do.
	if !bytes.Equal(req.PriorState.MsgPack, req.ProposedNewState.MsgPack) || len(req.PriorState.MsgPack) == 0 {
		proposed, err := req.ProposedNewState.Unmarshal(t.tfType)
		if err != nil || !proposed.Equal(prior) {
			return nil
		}
	}
	config, err := req.Config.Unmarshal(t.tfType)
	if err != nil || !config.IsFullyKnown() {
		return nil
	}
	if !t.defaults.hold(prior, config) {
		return nil
	}
	r, ok := t.new().(Resource)
	if !ok {
		return nil
	}
	if rc, ok := r.(resource.ResourceWithConfigure); ok {
		var resp resource.ConfigureResponse
		rc.Configure(ctx, resource.ConfigureRequest{ProviderData: c.data}, &resp)
		if len(resp.Diagnostics) > 0 {
			return nil
		}
	}
	if !r.PlanKeepsPrior(ctx, tfsdk.Config{Raw: config, Schema: t.schema}, tfsdk.State{Raw: prior, Schema: t.schema}) {
		return nil
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: req.PriorState, PlannedPrivate: req.PriorPrivate}
}

// compare names the first difference between the fast answer and the framework's.
func (s *Server) compare(typeName string, fast, framework *tfprotov6.PlanResourceChangeResponse) *tfprotov6.Diagnostic {
	differs := func(what string, at *tftypes.AttributePath) *tfprotov6.Diagnostic {
		return &tfprotov6.Diagnostic{
			Severity:  tfprotov6.DiagnosticSeverityError,
			Summary:   "planfast: the fast no-change plan differs from the framework's",
			Detail:    fmt.Sprintf("%s: %s differs; the framework's answer is returned. This is a bug in the provider.", typeName, what),
			Attribute: at,
		}
	}
	if len(framework.Diagnostics) > 0 {
		d := framework.Diagnostics[0]
		return differs(fmt.Sprintf("diagnostics (framework: %d, first %q: %s)", len(framework.Diagnostics), d.Summary, d.Detail), d.Attribute)
	}
	if len(framework.RequiresReplace) > 0 {
		return differs("requires-replace", framework.RequiresReplace[0])
	}
	if framework.Deferred != nil || framework.PlannedIdentity != nil {
		return differs("deferral or identity", nil)
	}
	if !bytes.Equal(fast.PlannedPrivate, framework.PlannedPrivate) {
		return differs(fmt.Sprintf("planned private state (%q, framework %q)", fast.PlannedPrivate, framework.PlannedPrivate), nil)
	}
	t := s.types[typeName]
	fastState, err1 := fast.PlannedState.Unmarshal(t.tfType)
	frameworkState, err2 := framework.PlannedState.Unmarshal(t.tfType)
	if err1 != nil || err2 != nil {
		return differs(fmt.Sprintf("planned state (decoding: %v, %v)", err1, err2), nil)
	}
	if fastState.Equal(frameworkState) {
		return nil
	}
	diffs, err := fastState.Diff(frameworkState)
	if err != nil || len(diffs) == 0 {
		return differs(fmt.Sprintf("planned state (%v)", err), nil)
	}
	return differs(fmt.Sprintf("planned state (fast %s, framework %s)", valueString(diffs[0].Value1), valueString(diffs[0].Value2)), diffs[0].Path)
}

func valueString(v *tftypes.Value) string {
	if v == nil {
		return "absent"
	}
	return v.String()
}

func hasError(diags []*tfprotov6.Diagnostic) bool {
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			return true
		}
	}
	return false
}

// optedIn finds the resource types that implement Resource and whose schema the fast path can
// reason about (see audit).
func optedIn(ctx context.Context, p Provider) map[string]*fastType {
	var meta provider.MetadataResponse
	p.Metadata(ctx, provider.MetadataRequest{}, &meta)
	out := map[string]*fastType{}
	for _, newResource := range p.Resources(ctx) {
		r := newResource()
		if _, ok := r.(Resource); !ok {
			continue
		}
		if _, ok := r.(resource.ResourceWithIdentity); ok {
			continue // the planned identity would need its own proof
		}
		var md resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: meta.TypeName}, &md)
		var sr resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &sr)
		if len(sr.Diagnostics) > 0 {
			continue
		}
		defaults, ok := audit(ctx, sr.Schema)
		if !ok {
			continue
		}
		out[md.TypeName] = &fastType{new: newResource, schema: sr.Schema, tfType: sr.Schema.Type().TerraformType(ctx), defaults: defaults}
	}
	return out
}

// NewProtocol6 is providerserver.NewProtocol6WithError with the fast path in front, guarded as
// GuardFromEnv says. Each call makes a provider instance of its own, as Provider requires.
func NewProtocol6(newProvider func() provider.Provider) func() (tfprotov6.ProviderServer, error) {
	return func() (tfprotov6.ProviderServer, error) {
		p := newProvider()
		server := providerserver.NewProtocol6(p)()
		if fp, ok := p.(Provider); ok {
			return New(server, fp, GuardFromEnv()), nil
		}
		return server, nil
	}
}
