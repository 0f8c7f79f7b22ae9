package provider

import (
	"context"
	"fmt"
	"regexp"
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
)

var (
	_ resource.Resource                     = &inferenceServiceResource{}
	_ resource.ResourceWithConfigure        = &inferenceServiceResource{}
	_ resource.ResourceWithImportState      = &inferenceServiceResource{}
	_ resource.ResourceWithModifyPlan       = &inferenceServiceResource{}
	_ resource.ResourceWithConfigValidators = &inferenceServiceResource{}
)

const (
	deploymentModeAnnotation = "serving.kserve.io/deploymentMode"
	deploymentModeModelMesh  = "ModelMesh"

	// privateWaitPending marks, in private state, an apply that stopped waiting before the model was
	// Loaded: the next plan then schedules an update that waits again.
	privateWaitPending = "wait_pending"

	modelStateLoaded       = "Loaded"
	modelStateFailedToLoad = "FailedToLoad"
	transitionUpToDate     = "UpToDate"
)

var inferenceServiceNameRegexp = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// NewInferenceServiceResource returns the asm_inference_service resource.
func NewInferenceServiceResource() resource.Resource {
	return &inferenceServiceResource{}
}

// Default timeouts; the schema's description states them.
const (
	// inferenceServiceApplyTimeout bounds a create or update with the wait for ModelMesh to load the model.
	inferenceServiceApplyTimeout  = 10 * time.Minute
	inferenceServiceDeleteTimeout = 5 * time.Minute
)

type inferenceServiceResource struct {
	configuredResource
}

type inferenceServiceModel struct {
	ID                 types.String      `tfsdk:"id"`
	Name               types.String      `tfsdk:"name"`
	Namespace          types.String      `tfsdk:"namespace"`
	Labels             types.Map         `tfsdk:"labels"`
	Annotations        types.Map         `tfsdk:"annotations"`
	ModelFormat        *modelFormatModel `tfsdk:"model_format"`
	Runtime            types.String      `tfsdk:"runtime"`
	Storage            *modelStorageRef  `tfsdk:"storage"`
	StorageURI         types.String      `tfsdk:"storage_uri"`
	ServiceAccountName types.String      `tfsdk:"service_account_name"`
	WaitForReady       types.Bool        `tfsdk:"wait_for_ready"`
	ForceConflicts     types.Bool        `tfsdk:"force_conflicts"`
	MeshID             types.String      `tfsdk:"mesh_id"`
	Timeouts           timeouts.Value    `tfsdk:"timeouts"`
	inferenceServiceStatus
}

type modelFormatModel struct {
	Name    types.String `tfsdk:"name"`
	Version types.String `tfsdk:"version"`
}

type modelStorageRef struct {
	Key        types.String `tfsdk:"key"`
	Path       types.String `tfsdk:"path"`
	SchemaPath types.String `tfsdk:"schema_path"`
	Parameters types.Map    `tfsdk:"parameters"`
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

func (r *inferenceServiceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_inference_service"
}

func (r *inferenceServiceResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("storage"), path.MatchRoot("storage_uri")),
	}
}

func (r *inferenceServiceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	planNamespace(ctx, r.data, req, resp)
	var plan inferenceServiceModel
	resp.Diagnostics.Append(resp.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *inferenceServiceModel
	if !req.State.Raw.IsNull() {
		state = &inferenceServiceModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	}
	pending, diags := req.Private.GetKey(ctx, privateWaitPending)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
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

// plannedStatus is honest about what the apply changes: an apply that waits ends with the model
// Loaded, UpToDate and Ready (or fails), and its URLs do not depend on the model; the rest of the
// status is unknown until then. An apply that leaves the model alone (labels, annotations, timeouts)
// keeps the status as last read, and a status that moves on by itself is refreshed, never planned.
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
		s.Ready = types.BoolValue(true)
		s.ActiveModelState = types.StringValue(modelStateLoaded)
		s.TransitionStatus = types.StringValue(transitionUpToDate)
	}
	return s
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

func modelSpecChanged(plan, state *inferenceServiceModel) bool {
	if (plan.ModelFormat == nil) != (state.ModelFormat == nil) || (plan.Storage == nil) != (state.Storage == nil) {
		return true
	}
	if plan.ModelFormat != nil && (!plan.ModelFormat.Name.Equal(state.ModelFormat.Name) || !plan.ModelFormat.Version.Equal(state.ModelFormat.Version)) {
		return true
	}
	if plan.Storage != nil {
		p, s := plan.Storage, state.Storage
		if !p.Key.Equal(s.Key) || !p.Path.Equal(s.Path) || !p.SchemaPath.Equal(s.SchemaPath) || !p.Parameters.Equal(s.Parameters) {
			return true
		}
	}
	return !plan.Runtime.Equal(state.Runtime) || !plan.StorageURI.Equal(state.StorageURI) ||
		!plan.ServiceAccountName.Equal(state.ServiceAccountName)
}

func (r *inferenceServiceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan inferenceServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, inferenceServiceApplyTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.apply(ctx, "create", timeout, &plan, plan.WaitForReady.ValueBool(), resourceResult{&resp.State, resp.Private, &resp.Diagnostics})
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
	timeout, diags := plan.Timeouts.Update(ctx, inferenceServiceApplyTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	wait := plan.WaitForReady.ValueBool() && needsWait(&plan, &state, pending != nil)
	r.apply(ctx, "update", timeout, &plan, wait, resourceResult{&resp.State, resp.Private, &resp.Diagnostics})
}

// resourceResult is the part of a Create or Update response that apply fills in.
type resourceResult struct {
	state   *tfsdk.State
	private interface {
		SetKey(context.Context, string, []byte) diag.Diagnostics
	}
	diags *diag.Diagnostics
}

// apply server-side-applies the plan and, when asked, watches until the model is Loaded. Once the
// object exists it is always saved to state, also when the wait fails, times out or is interrupted:
// Terraform then taints a new object and the next apply replaces it; after an update the private
// wait_pending mark makes the next plan wait again.
func (r *inferenceServiceResource) apply(ctx context.Context, operation string, timeout time.Duration, plan *inferenceServiceModel, wait bool, out resourceResult) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := r.data.kubeClient(out.diags)
	if client == nil {
		return
	}
	ref := plan.ref()
	obj, diags := plan.object(ctx)
	out.diags.Append(diags...)
	if out.diags.HasError() {
		return
	}

	// Create does not adopt an object it did not make. The generation before the apply tells
	// whether the status in the apply's response is stale.
	previous, found := readObject(ctx, client, ref, out.diags)
	if out.diags.HasError() {
		return
	}
	var previousGeneration int64
	if found {
		if operation == "create" {
			out.diags.AddError(fmt.Sprintf("%s already exists", ref),
				fmt.Sprintf("Import it to manage it with Terraform (terraform import asm_inference_service.<name> %s/%s), "+
					"or choose another name.", ref.Namespace, ref.Name))
			return
		}
		previousGeneration = previous.GetGeneration()
	}
	applied, err := client.Apply(ctx, ref, obj, kube.ApplyOptions{FieldManager: r.data.fieldManager, Force: plan.ForceConflicts.ValueBool()})
	if err != nil {
		out.diags.AddError(fmt.Sprintf("Applying %s failed", ref), err.Error())
		return
	}
	plan.ID = types.StringValue(ref.Namespace + "/" + ref.Name)

	last, waitErr := applied, error(nil)
	if wait {
		waiter := loadWaiter{generation: applied.GetGeneration(), resourceVersion: applied.GetResourceVersion(),
			specChanged: applied.GetGeneration() != previousGeneration}
		var seen *unstructured.Unstructured
		seen, waitErr = waiter.wait(ctx, client, ref)
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
		out.diags.AddError(waitFailure(ctx, operation, plan, live, waitErr, timeout))
		return
	}
	plan.fillUnknown(live)
	out.diags.Append(out.private.SetKey(ctx, privateWaitPending, nil)...)
	out.diags.Append(out.state.Set(ctx, plan)...)
}

func (r *inferenceServiceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state inferenceServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.data.kubeClient(&resp.Diagnostics)
	if client == nil {
		return
	}
	obj, found := readObject(ctx, client, state.ref(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found {
		resp.State.RemoveResource(ctx)
		return
	}
	prior := state
	resp.Diagnostics.Append(state.readFrom(obj, r.data.fieldManager)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !unchanged(state, prior) {
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
	}
}

func (r *inferenceServiceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state inferenceServiceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, inferenceServiceDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.data.deleteObject(ctx, timeout, state.ref(), &resp.Diagnostics)
}

func (r *inferenceServiceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	namespace, name, err := parseNamespacedID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import ID", err.Error())
		return
	}
	// Every attribute with a default is set, so the first plan after import shows no change for it.
	for attribute, value := range map[string]attr.Value{
		"id": types.StringValue(req.ID), "name": types.StringValue(name), "namespace": types.StringValue(namespace),
		"wait_for_ready": types.BoolValue(true), "force_conflicts": types.BoolValue(false),
	} {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attribute), value)...)
	}
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
