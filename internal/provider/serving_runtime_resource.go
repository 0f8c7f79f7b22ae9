package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

var (
	_ resource.Resource                     = &runtimeResource{}
	_ resource.ResourceWithConfigure        = &runtimeResource{}
	_ resource.ResourceWithImportState      = &runtimeResource{}
	_ resource.ResourceWithModifyPlan       = &runtimeResource{}
	_ resource.ResourceWithValidateConfig   = &runtimeResource{}
	_ resource.ResourceWithConfigValidators = &runtimeResource{}
)

const (
	runtimeApplyTimeout  = 2 * time.Minute
	runtimeDeleteTimeout = 5 * time.Minute
)

// NewServingRuntimeResource is asm_serving_runtime, a namespaced KServe ServingRuntime.
func NewServingRuntimeResource() resource.Resource {
	return &runtimeResource{kind: kube.ServingRuntime, typeSuffix: "_serving_runtime"}
}

// runtimeResource implements both runtime resources: they differ only in the namespace.
type runtimeResource struct {
	configuredResource
	kind       kube.Kind
	typeSuffix string
}

// modelGetter is tfsdk.Config, Plan or State; modelSetter is Plan or State.
type modelGetter interface {
	Get(context.Context, any) diag.Diagnostics
}

type modelSetter interface {
	Set(context.Context, any) diag.Diagnostics
}

// get reads the model; namespace is null for the cluster-scoped kind.
func (r *runtimeResource) get(ctx context.Context, from modelGetter, diags *diag.Diagnostics) (m runtimeModel, namespace types.String) {
	if r.kind.Namespaced {
		var nm namespacedRuntimeModel
		diags.Append(from.Get(ctx, &nm)...)
		return nm.runtimeModel, nm.Namespace
	}
	diags.Append(from.Get(ctx, &m)...)
	return m, types.StringNull()
}

func (r *runtimeResource) set(ctx context.Context, to modelSetter, m runtimeModel, namespace types.String, diags *diag.Diagnostics) {
	if r.kind.Namespaced {
		diags.Append(to.Set(ctx, &namespacedRuntimeModel{runtimeModel: m, Namespace: namespace})...)
		return
	}
	diags.Append(to.Set(ctx, &m)...)
}

func (r *runtimeResource) ref(m runtimeModel, namespace types.String) kube.Ref {
	return kube.Ref{Kind: r.kind, Namespace: namespace.ValueString(), Name: m.Name.ValueString()}
}

func runtimeID(ref kube.Ref) string {
	if ref.Namespace == "" {
		return ref.Name
	}
	return ref.Namespace + "/" + ref.Name
}

func (r *runtimeResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + r.typeSuffix
}

func (r *runtimeResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = runtimeSchema(ctx, r.kind)
}

func (r *runtimeResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("containers"), path.MatchRoot("mlserver")),
		multiModelNeedsGRPCEndpoint{},
	}
}

func (r *runtimeResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	config, _ := r.get(ctx, req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(validateRuntimeConfig(ctx, config)...)
}

// ModifyPlan works offline: defaults and the MLServer preset are resolved here so that the plan
// shows the spec that will be applied.
func (r *runtimeResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	if r.kind.Namespaced {
		planNamespace(ctx, r.data, req, resp)
	}
	config, _ := r.get(ctx, req.Config, &resp.Diagnostics)
	plan, namespace := r.get(ctx, resp.Plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(planRuntime(ctx, &plan, config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID = types.StringUnknown()
	if !plan.Name.IsUnknown() && !namespace.IsUnknown() {
		plan.ID = types.StringValue(runtimeID(r.ref(plan, namespace)))
	}
	r.set(ctx, &resp.Plan, plan, namespace, &resp.Diagnostics)
}

func (r *runtimeResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.applyPlan(ctx, req.Plan, true, &resp.State, &resp.Diagnostics)
}

func (r *runtimeResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.applyPlan(ctx, req.Plan, false, &resp.State, &resp.Diagnostics)
}

// applyPlan is Create (create set) and Update: it applies the plan within the create or update
// timeout and stores what the API server answered.
func (r *runtimeResource) applyPlan(ctx context.Context, planned tfsdk.Plan, create bool, state *tfsdk.State, diags *diag.Diagnostics) {
	plan, namespace := r.get(ctx, planned, diags)
	if diags.HasError() {
		return
	}
	timeoutOf := plan.Timeouts.Update
	if create {
		timeoutOf = plan.Timeouts.Create
	}
	timeout, timeoutDiags := timeoutOf(ctx, runtimeApplyTimeout)
	diags.Append(timeoutDiags...)
	if diags.HasError() {
		return
	}
	r.apply(ctx, timeout, r.ref(plan, namespace), &plan, create, diags)
	if diags.HasError() {
		return
	}
	r.set(ctx, state, plan, namespace, diags)
}

// apply server-side-applies the planned object within timeout and reads the result back into m.
// On create it first refuses an existing object: server-side apply would silently adopt it.
func (r *runtimeResource) apply(ctx context.Context, timeout time.Duration, ref kube.Ref, m *runtimeModel, create bool, diags *diag.Diagnostics) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := r.data.kubeClient(diags)
	if client == nil {
		return
	}
	if create {
		if _, found := readObject(ctx, client, ref, diags); found {
			diags.AddError(fmt.Sprintf("%s already exists", ref),
				fmt.Sprintf("Import it to manage it with Terraform: terraform import <address> %s", runtimeID(ref)))
		}
		if diags.HasError() {
			return
		}
	}
	obj, err := runtimeObject(ctx, r.kind, *m, ref.Namespace)
	if err != nil {
		diags.AddError(fmt.Sprintf("Building %s failed", ref), err.Error())
		return
	}
	out, err := client.Apply(ctx, ref, obj, kube.ApplyOptions{FieldManager: r.data.fieldManager, Force: m.ForceConflicts.ValueBool()})
	if err != nil {
		diags.AddError(fmt.Sprintf("Applying %s failed", ref), err.Error())
		return
	}
	m.ID = types.StringValue(runtimeID(ref))
	requested := m.SpecOverridesJSON
	r.read(ctx, m, out, diags)
	if diags.HasError() || requested.IsNull() {
		return
	}
	// A structural CRD drops fields it does not define; say so rather than report an inconsistent result.
	if equal, _ := requested.StringSemanticEquals(ctx, m.SpecOverridesJSON); !equal {
		diags.AddAttributeError(path.Root("spec_overrides_json"), "The API server dropped fields of spec_overrides_json",
			fmt.Sprintf("Applied %s, but the %s API kept only %s. The CRD installed on the cluster does not define "+
				"the other fields.", requested.ValueString(), r.kind.Kind, m.SpecOverridesJSON.ValueString()))
	}
}

func (r *runtimeResource) read(ctx context.Context, m *runtimeModel, obj *unstructured.Unstructured, diags *diag.Diagnostics) {
	owned, err := kube.Owned(obj, r.data.fieldManager)
	if err == nil {
		err = readRuntime(ctx, m, obj, owned)
	}
	if err != nil {
		diags.AddError(fmt.Sprintf("Reading back %s %q failed", r.kind.Kind, obj.GetName()), err.Error())
	}
}

func (r *runtimeResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	state, namespace := r.get(ctx, req.State, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.data.kubeClient(&resp.Diagnostics)
	if client == nil {
		return
	}
	ref := r.ref(state, namespace)
	obj, found := readObject(ctx, client, ref, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found {
		resp.State.RemoveResource(ctx)
		return
	}
	prior := state
	state.ID = types.StringValue(runtimeID(ref))
	r.read(ctx, &state, obj, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !unchanged(state, prior) {
		r.set(ctx, &resp.State, state, namespace, &resp.Diagnostics)
	}
}

func (r *runtimeResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	state, namespace := r.get(ctx, req.State, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, runtimeDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.data.deleteObject(ctx, timeout, r.ref(state, namespace), &resp.Diagnostics)
}

// ImportState takes `<namespace>/<name>`, or `<name>` for the provider's default namespace; the
// cluster-scoped kind takes `<name>`. Read then fills every attribute whose field Terraform's field
// manager owns.
func (r *runtimeResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	namespace, name := "", req.ID
	if r.kind.Namespaced {
		if r.data != nil {
			namespace = r.data.namespace
		}
		if strings.Contains(req.ID, "/") {
			var err error
			if namespace, name, err = parseNamespacedID(req.ID); err != nil {
				resp.Diagnostics.AddError("Invalid import ID", err.Error())
				return
			}
		}
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		format := "<name>"
		if r.kind.Namespaced {
			format = "<namespace>/<name> or <name>"
		}
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("import id %q is not of the form %s: %s",
			req.ID, format, strings.Join(errs, "; ")))
		return
	}
	ref := kube.Ref{Kind: r.kind, Namespace: namespace, Name: name}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), runtimeID(ref))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("force_conflicts"), false)...)
	if r.kind.Namespaced {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), namespace)...)
	}
}
