package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
)

var (
	_ resource.Resource                     = &runtimeResource{}
	_ resource.ResourceWithConfigure        = &runtimeResource{}
	_ resource.ResourceWithImportState      = &runtimeResource{}
	_ resource.ResourceWithModifyPlan       = &runtimeResource{}
	_ resource.ResourceWithValidateConfig   = &runtimeResource{}
	_ resource.ResourceWithConfigValidators = &runtimeResource{}
	_ planfast.Resource                     = &runtimeResource{}
)

// Default timeouts; the schema's description states them.
const (
	runtimeApplyTimeout  = 2 * time.Minute
	runtimeDeleteTimeout = 5 * time.Minute
)

// NewServingRuntimeResource is asm_serving_runtime, a namespaced KServe ServingRuntime.
func NewServingRuntimeResource() resource.Resource {
	return newRuntimeResource(kube.ServingRuntime, "_serving_runtime")
}

func newRuntimeResource(kind kube.Kind, typeName string) *runtimeResource {
	r := &runtimeResource{kubeResource: kubeResource[namespacedRuntimeModel]{
		kind: kind, typeName: typeName, applyTimeout: runtimeApplyTimeout, deleteTimeout: runtimeDeleteTimeout,
		importByName: true,
	}}
	r.hooks = r
	return r
}

// runtimeResource implements both runtime resources: they differ only in the namespace. The
// generic core (kubeResource) does the CRUD; this file has the hooks and the plan.
type runtimeResource struct {
	kubeResource[namespacedRuntimeModel]
}

// getModel reads the model; the namespace is null for the cluster-scoped kind, whose schema has none.
func (r *runtimeResource) getModel(ctx context.Context, from modelGetter, diags *diag.Diagnostics) namespacedRuntimeModel {
	if r.kind.Namespaced {
		var m namespacedRuntimeModel
		diags.Append(from.Get(ctx, &m)...)
		return m
	}
	m := namespacedRuntimeModel{Namespace: types.StringNull()}
	diags.Append(from.Get(ctx, &m.runtimeModel)...)
	return m
}

func (r *runtimeResource) setModel(ctx context.Context, to modelSetter, m *namespacedRuntimeModel, diags *diag.Diagnostics) {
	if r.kind.Namespaced {
		diags.Append(to.Set(ctx, m)...)
		return
	}
	diags.Append(to.Set(ctx, &m.runtimeModel)...)
}

func (r *runtimeResource) common(m *namespacedRuntimeModel) objectAttributes {
	return objectAttributes{id: &m.ID, forceConflicts: m.ForceConflicts, timeouts: m.Timeouts}
}

func (r *runtimeResource) ref(m *namespacedRuntimeModel) kube.Ref {
	return kube.Ref{Kind: r.kind, Namespace: m.Namespace.ValueString(), Name: m.Name.ValueString()}
}

func (r *runtimeResource) buildObject(ctx context.Context, m *namespacedRuntimeModel) (*unstructured.Unstructured, error) {
	return runtimeObject(ctx, r.kind, m.runtimeModel, m.Namespace.ValueString())
}

func (r *runtimeResource) readObject(ctx context.Context, m *namespacedRuntimeModel, obj *unstructured.Unstructured, owned kube.OwnedFields) error {
	return readRuntime(ctx, &m.runtimeModel, obj, owned)
}

// checkApplied reports fields of spec_overrides_json a structural CRD dropped, rather than leave
// Terraform to report an inconsistent result.
func (r *runtimeResource) checkApplied(ctx context.Context, requested, got *namespacedRuntimeModel, diags *diag.Diagnostics) {
	if requested.SpecOverridesJSON.IsNull() {
		return
	}
	if equal, _ := requested.SpecOverridesJSON.StringSemanticEquals(ctx, got.SpecOverridesJSON); !equal {
		diags.AddAttributeError(path.Root("spec_overrides_json"), "The API server dropped fields of spec_overrides_json",
			fmt.Sprintf("Applied %s, but the %s API kept only %s. The CRD installed on the cluster does not define "+
				"the other fields.", requested.SpecOverridesJSON.ValueString(), r.kind.Kind, got.SpecOverridesJSON.ValueString()))
	}
}

func (r *runtimeResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = runtimeSchema(ctx, r.kind)
}

func (r *runtimeResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("containers"), path.MatchRoot("mlserver")),
		multiModelNeedsGRPCEndpoint{},
		modelMeshRuntimeRules{},
		autoscalerAnnotations{},
	}
}

func (r *runtimeResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	// Only spec_overrides_json has checks here (validateRuntimeConfig): without a value for it, skip
	// reading the whole model (issue 31).
	var overrides jsonObjectValue
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("spec_overrides_json"), &overrides)...)
	if resp.Diagnostics.HasError() || overrides.IsNull() || overrides.IsUnknown() {
		return
	}
	config := r.getModel(ctx, req.Config, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(validateRuntimeConfig(ctx, config.runtimeModel)...)
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
	plan, changed := r.planModel(ctx, req.Config, &resp.Plan, &resp.Diagnostics)
	// In a no-change plan the defaults and the preset resolve to what is planned already; writing
	// the model back converts it all again (issue 31's profile).
	if changed {
		r.setModel(ctx, &resp.Plan, &plan, &resp.Diagnostics)
	}
}

// planModel resolves the defaults, the preset and the id of the proposed plan, and reports whether
// that changed it.
func (r *runtimeResource) planModel(ctx context.Context, config tfsdk.Config, proposed modelGetter, diags *diag.Diagnostics) (namespacedRuntimeModel, bool) {
	configured := r.getModel(ctx, config, diags)
	plan := r.getModel(ctx, proposed, diags)
	if diags.HasError() {
		return plan, false
	}
	before := plan
	diags.Append(planRuntime(ctx, &plan.runtimeModel, configured.runtimeModel)...)
	if diags.HasError() {
		return plan, false
	}
	plan.ID = types.StringUnknown()
	if !plan.Name.IsUnknown() && !plan.Namespace.IsUnknown() {
		plan.ID = types.StringValue(kubeID(r.ref(&plan)))
	}
	return plan, !unchanged(plan, before)
}

// PlanKeepsPrior: ModifyPlan leaves a plan equal to the state alone when planNamespace keeps the
// namespace and planModel changes nothing, without a word.
func (r *runtimeResource) PlanKeepsPrior(ctx context.Context, config tfsdk.Config, prior tfsdk.State) bool {
	if r.kind.Namespaced && !namespaceKept(ctx, r.data, config, prior) {
		return false
	}
	var diags diag.Diagnostics
	_, changed := r.planModel(ctx, config, prior, &diags)
	return !changed && len(diags) == 0
}
