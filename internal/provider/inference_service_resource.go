package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
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
	_ resource.Resource                     = &inferenceServiceResource{}
	_ resource.ResourceWithConfigure        = &inferenceServiceResource{}
	_ resource.ResourceWithImportState      = &inferenceServiceResource{}
	_ resource.ResourceWithModifyPlan       = &inferenceServiceResource{}
	_ resource.ResourceWithConfigValidators = &inferenceServiceResource{}
	_ planfast.Resource                     = &inferenceServiceResource{}
)

const (
	deploymentModeAnnotation = "serving.kserve.io/deploymentMode"
	deploymentModeModelMesh  = "ModelMesh"

	// privateWaitPending marks, in private state, an apply that stopped waiting before the model was
	// Loaded: the next plan then schedules an update that waits again.
	privateWaitPending = "wait_pending"

	modelStateLoaded       = "Loaded"
	modelStateStandby      = "Standby"
	modelStateFailedToLoad = "FailedToLoad"
	transitionUpToDate     = "UpToDate"
)

// NewInferenceServiceResource returns the asm_inference_service resource.
func NewInferenceServiceResource() resource.Resource { return newInferenceServiceResource() }

func newInferenceServiceResource() *inferenceServiceResource {
	r := &inferenceServiceResource{kubeResource: kubeResource[inferenceServiceModel]{
		kind: kube.InferenceService, typeName: "_inference_service",
		applyTimeout: inferenceServiceApplyTimeout, deleteTimeout: inferenceServiceDeleteTimeout,
		importDefaults: map[string]attr.Value{"wait_for_ready": types.BoolValue(true)},
	}}
	r.hooks = r
	return r
}

// Default timeouts; the schema's description states them.
const (
	// inferenceServiceApplyTimeout bounds a create or update with the wait for ModelMesh to load the model.
	inferenceServiceApplyTimeout  = 10 * time.Minute
	inferenceServiceDeleteTimeout = 5 * time.Minute
)

// inferenceServiceResource is the generic core (kubeResource) with its own Create and Update, which
// wait for ModelMesh to load the model.
type inferenceServiceResource struct {
	kubeResource[inferenceServiceModel]
}

type inferenceServiceModel struct {
	ID                 types.String   `tfsdk:"id"`
	Name               types.String   `tfsdk:"name"`
	Namespace          types.String   `tfsdk:"namespace"`
	Labels             types.Map      `tfsdk:"labels"`
	Annotations        types.Map      `tfsdk:"annotations"`
	ModelFormat        types.Object   `tfsdk:"model_format"` // name, version
	Runtime            types.String   `tfsdk:"runtime"`
	Storage            types.Object   `tfsdk:"storage"` // key, path, schema_path, parameters
	StorageURI         types.String   `tfsdk:"storage_uri"`
	ProtocolVersion    types.String   `tfsdk:"protocol_version"`
	ServiceAccountName types.String   `tfsdk:"service_account_name"`
	WaitForReady       types.Bool     `tfsdk:"wait_for_ready"`
	ForceConflicts     types.Bool     `tfsdk:"force_conflicts"`
	MeshID             types.String   `tfsdk:"mesh_id"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
	inferenceServiceStatus
}

// inferenceServiceStatus is what ModelMesh reports; Terraform never plans a change because of it.
type inferenceServiceStatus struct {
	Ready              types.Bool   `tfsdk:"ready"`
	URL                types.String `tfsdk:"url"`
	GRPCURL            types.String `tfsdk:"grpc_url"`
	RESTURL            types.String `tfsdk:"rest_url"`
	ActiveModelState   types.String `tfsdk:"active_model_state"`
	TargetModelState   types.String `tfsdk:"target_model_state"`
	TransitionStatus   types.String `tfsdk:"transition_status"`
	TotalCopies        types.Int64  `tfsdk:"total_copies"`
	FailedCopies       types.Int64  `tfsdk:"failed_copies"`
	LastFailureReason  types.String `tfsdk:"last_failure_reason"`
	LastFailureMessage types.String `tfsdk:"last_failure_message"`
}

func (r *inferenceServiceResource) getModel(ctx context.Context, from modelGetter, diags *diag.Diagnostics) inferenceServiceModel {
	var m inferenceServiceModel
	diags.Append(from.Get(ctx, &m)...)
	return m
}

func (r *inferenceServiceResource) setModel(ctx context.Context, to modelSetter, m *inferenceServiceModel, diags *diag.Diagnostics) {
	diags.Append(to.Set(ctx, m)...)
}

func (r *inferenceServiceResource) common(m *inferenceServiceModel) objectAttributes {
	return objectAttributes{id: &m.ID, forceConflicts: m.ForceConflicts, timeouts: m.Timeouts}
}

func (r *inferenceServiceResource) ref(m *inferenceServiceModel) kube.Ref {
	return m.ref()
}

func (r *inferenceServiceResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		// As ModelMesh requires (processInferenceServiceStorage in modelmesh-serving v0.12.0's
		// pkg/predictor_source/inferenceservice_registry.go): the rest of storage may go with storage_uri.
		resourcevalidator.ExactlyOneOf(path.MatchRoot("storage").AtName("path"), path.MatchRoot("storage_uri")),
	}
}

func (r *inferenceServiceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	planNamespace(ctx, r.data, req, resp)
	pending, diags := req.Private.GetKey(ctx, privateWaitPending)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A plan equal to the state, its namespace resolved, with no wait left over, keeps the status
	// as read and needs no mesh check: skip the reflection into models and back (issue 31).
	if pending == nil && resp.Plan.Raw.Equal(req.State.Raw) {
		return
	}
	var plan inferenceServiceModel
	resp.Diagnostics.Append(resp.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *inferenceServiceModel
	if !req.State.Raw.IsNull() {
		state = &inferenceServiceModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
	}

	if r.data != nil && !plan.MeshID.IsNull() && !plan.MeshID.IsUnknown() && (state == nil || !plan.MeshID.Equal(state.MeshID)) {
		r.checkMesh(ctx, plan.MeshID.ValueString(), &resp.Diagnostics)
	}

	if state != nil && pending != nil && plan.WaitForReady.ValueBool() {
		resp.Diagnostics.AddWarning("The last apply stopped waiting for the model",
			fmt.Sprintf("The last apply of InferenceService %s stopped before ModelMesh reported the model Loaded; this apply waits again.", state.ID.ValueString()))
	}
	plan.inferenceServiceStatus = plannedStatus(&plan, state, pending != nil)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// PlanKeepsPrior: with no private state (so no pending wait), ModifyPlan returns a plan equal to the
// state as it is once planNamespace has kept the namespace.
func (r *inferenceServiceResource) PlanKeepsPrior(ctx context.Context, config tfsdk.Config, prior tfsdk.State) bool {
	return namespaceKept(ctx, r.data, config, prior)
}

// plannedStatus is honest about what the apply changes: an apply that loads a model ends with it
// Loaded, UpToDate and Ready (or fails), and its URLs do not depend on the model; an apply that only
// waits (wait_for_ready turned on) ends UpToDate, possibly with the model in Standby and not Ready
// (see loadWaiter). The rest of the status is unknown until then. An apply that leaves the model
// alone (labels, annotations, timeouts) keeps the status as last read, and a status that moves on by
// itself is refreshed, never planned.
func plannedStatus(plan, state *inferenceServiceModel, pending bool) inferenceServiceStatus {
	if state != nil && !needsWait(plan, state, pending) {
		return state.inferenceServiceStatus
	}
	unknownString := types.StringUnknown()
	s := inferenceServiceStatus{
		Ready: types.BoolUnknown(), URL: unknownString, GRPCURL: unknownString, RESTURL: unknownString,
		ActiveModelState: unknownString, TargetModelState: unknownString, TransitionStatus: unknownString,
		TotalCopies: types.Int64Unknown(), FailedCopies: types.Int64Unknown(),
		LastFailureReason: unknownString, LastFailureMessage: unknownString,
	}
	if state != nil {
		for _, url := range []struct{ planned, prior *types.String }{
			{&s.URL, &state.URL}, {&s.GRPCURL, &state.GRPCURL}, {&s.RESTURL, &state.RESTURL},
		} {
			if !url.prior.IsNull() {
				*url.planned = *url.prior
			}
		}
	}
	if plan.WaitForReady.ValueBool() {
		s.TransitionStatus = types.StringValue(transitionUpToDate)
		if loadStarts(plan, state, pending) {
			s.Ready = types.BoolValue(true)
			s.ActiveModelState = types.StringValue(modelStateLoaded)
		}
	}
	return s
}

// loadStarts reports whether the apply loads a model ModelMesh has not loaded yet: a new object, a
// changed model, or a change whose load the last apply did not see finish.
func loadStarts(plan, state *inferenceServiceModel, pending bool) bool {
	return state == nil || pending || modelSpecChanged(plan, state)
}

// needsWait reports whether an update must wait for a load: when the model spec changes, when
// waiting was just turned on, or when the last apply stopped waiting (pending). Without
// wait_for_ready it reports whether the model spec changes, so the status is planned unknown.
func needsWait(plan, state *inferenceServiceModel, pending bool) bool {
	if modelSpecChanged(plan, state) {
		return true
	}
	return plan.WaitForReady.ValueBool() && (pending || !state.WaitForReady.ValueBool())
}

// modelSpecChanged reports whether the update changes what ModelMesh builds the model from
// (BuildBasePredictorFromInferenceService and processInferenceServiceStorage in modelmesh-serving
// v0.12.0's pkg/predictor_source/inferenceservice_registry.go). ModelMesh names the model after a hash
// of that spec (concreteModelName in controllers/predictor_controller.go), so any change of it loads
// the model anew; service_account_name is not part of it, the storage annotations are.
func modelSpecChanged(plan, state *inferenceServiceModel) bool {
	return !plan.ModelFormat.Equal(state.ModelFormat) || !plan.Storage.Equal(state.Storage) ||
		!plan.Runtime.Equal(state.Runtime) || !plan.StorageURI.Equal(state.StorageURI) ||
		!plan.ProtocolVersion.Equal(state.ProtocolVersion) ||
		!fallbackAnnotation(plan, "key", secretKeyAnnotation).Equal(fallbackAnnotation(state, "key", secretKeyAnnotation)) ||
		!fallbackAnnotation(plan, "schema_path", schemaPathAnnotation).Equal(fallbackAnnotation(state, "schema_path", schemaPathAnnotation))
}

func (r *inferenceServiceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	plan := r.getModel(ctx, req.Plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout := operationTimeout(ctx, plan.Timeouts, "create", r.applyTimeout, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.applyAndWait(ctx, "create", timeout, &plan, loadWaiterOptions{wait: plan.WaitForReady.ValueBool(), loadStarted: true, modelChanged: true},
		resourceResult{&resp.State, resp.Private, &resp.Diagnostics})
}

func (r *inferenceServiceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state inferenceServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	pending, diags := req.Private.GetKey(ctx, privateWaitPending)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout := operationTimeout(ctx, plan.Timeouts, "update", r.applyTimeout, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.applyAndWait(ctx, "update", timeout, &plan, loadWaiterOptions{
		wait:         plan.WaitForReady.ValueBool() && needsWait(&plan, &state, pending != nil),
		loadStarted:  loadStarts(&plan, &state, pending != nil),
		modelChanged: modelSpecChanged(&plan, &state),
	}, resourceResult{&resp.State, resp.Private, &resp.Diagnostics})
}

// resourceResult is the part of a Create or Update response that apply fills in.
type resourceResult struct {
	state   *tfsdk.State
	private interface {
		SetKey(context.Context, string, []byte) diag.Diagnostics
	}
	diags *diag.Diagnostics
}

// loadWaiterOptions say whether an apply waits, and for what (see loadWaiter). modelChanged: this
// apply changes the model, also where the object's generation does not show it (the secretKey and
// schemaPath annotations).
type loadWaiterOptions struct {
	wait, loadStarted, modelChanged bool
}

// applyAndWait server-side-applies the plan and, when asked, watches until the model is Loaded. Once
// the object exists it is always saved to state, also when the wait fails, times out or is
// interrupted: Terraform then taints a new object and the next apply replaces it; after an update
// the private wait_pending mark makes the next plan wait again.
func (r *inferenceServiceResource) applyAndWait(ctx context.Context, operation string, timeout time.Duration, plan *inferenceServiceModel, opts loadWaiterOptions, out resourceResult) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := r.data.kubeClient(out.diags)
	if out.diags.HasError() {
		return
	}
	if operation == "create" {
		// Refused before anything exists: nothing to clean up. An unlabelled namespace may be the
		// controller's own, so only the wait can tell (runtimeInspector).
		if reason := namespaceNotServed(ctx, client, plan.Namespace.ValueString(), false); reason != "" {
			out.diags.AddAttributeError(path.Root("namespace"), "ModelMesh does not serve this namespace", reason)
			return
		}
	}
	// The generation before the apply tells whether the status in the apply's response is stale.
	applied, previous := r.applyObject(ctx, plan, operation == "create", true, out.diags)
	if out.diags.HasError() {
		return
	}
	var previousGeneration int64
	if previous != nil {
		previousGeneration = previous.GetGeneration()
	}

	last, waitErr := applied, error(nil)
	waiter := loadWaiter{generation: applied.GetGeneration(), resourceVersion: applied.GetResourceVersion(),
		specChanged: opts.modelChanged || applied.GetGeneration() != previousGeneration, loadStarted: opts.loadStarted}
	inspector := newRuntimeInspector(client, plan, statusOf(applied))
	if opts.wait {
		var seen *unstructured.Unstructured
		seen, waitErr = waiter.wait(ctx, client, plan.ref(), inspector)
		if seen != nil {
			last = seen
		}
	}
	live := statusOf(last)
	if waitErr != nil {
		// A failed apply is not checked against the plan: save what ModelMesh really reports.
		plan.inferenceServiceStatus = live
		out.diags.Append(out.private.SetKey(ctx, privateWaitPending, []byte("true"))...)
		out.diags.Append(out.state.Set(ctx, plan)...)
		out.diags.AddError(waitFailure(ctx, operation, plan, live, waitErr, timeout, inspector.seen(), waiter.current(last)))
		return
	}
	if opts.wait && live.ActiveModelState.ValueString() == modelStateStandby && !live.Ready.ValueBool() {
		out.diags.AddWarning(fmt.Sprintf("%s is in Standby and not Ready", plan.ref()),
			"ModelMesh keeps this model in Standby: it loads it when the first request for it arrives. Its Ready "+
				"condition stays False until then because the controller keeps the runtime's earlier failure: "+
				describeStatus(live))
	}
	plan.fillUnknown(live)
	out.diags.Append(out.private.SetKey(ctx, privateWaitPending, nil)...)
	out.diags.Append(out.state.Set(ctx, plan)...)
}

func (m *inferenceServiceModel) ref() kube.Ref {
	return kube.Ref{Kind: kube.InferenceService, Namespace: m.Namespace.ValueString(), Name: m.Name.ValueString()}
}

// checkMesh refuses, at plan time, a mesh too old for ModelMesh custom runtimes.
func (r *inferenceServiceResource) checkMesh(ctx context.Context, meshID string, diags *diag.Diagnostics) {
	client := r.data.asmClient(diags)
	if client == nil {
		return
	}
	_, meshDiags := checkMeshVersion(ctx, client, meshID, modelMeshMinimumVersion, path.Root("mesh_id"))
	diags.Append(meshDiags...)
}
