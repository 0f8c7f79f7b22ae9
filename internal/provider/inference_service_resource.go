package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
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

func (r *inferenceServiceResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	optional := func(desc string, validators ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Description: desc, Validators: validators}
	}
	computedString := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc}
	}
	nonEmpty := stringvalidator.LengthAtLeast(1)
	resp.Schema = schema.Schema{
		Description: "A KServe `InferenceService` served by ModelMesh (annotation `serving.kserve.io/deploymentMode: ModelMesh`, " +
			"always set by the provider). By default the apply waits, by watching the object, until ModelMesh reports the model " +
			"Loaded and Ready, and fails at once with ModelMesh's reason when the load fails (a missing runtime, " +
			"`RuntimeNotRecognized` or `NoSupportingRuntime`, after a 30s grace, as ModelMesh retries when runtimes change). An apply that fails or times out " +
			"keeps the object in state: after a create it is tainted and replaced by the next apply, after an update the next " +
			"apply waits again. Default timeouts: create 10m, update 10m, delete 5m. Status attributes are refreshed on every " +
			"read and never cause a plan by themselves. Import with `<namespace>/<name>`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "`<namespace>/<name>`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true,
				Description: "Name of the InferenceService, which is also the model name clients send requests for. " +
					"A DNS-1035 label: lowercase letters, digits and `-`, starting with a letter. Changing it replaces the object.",
				Validators: []validator.String{
					stringvalidator.LengthBetween(1, 63),
					stringvalidator.RegexMatches(inferenceServiceNameRegexp, "must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"),
				},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"namespace": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Description: "Namespace of the InferenceService. Defaults to the provider's `kubernetes.namespace` " +
					"(itself defaulting to `modelmesh-serving`). Changing it, or the provider default it came from, replaces the object.",
				Validators: []validator.String{nonEmpty},
			},
			"labels": schema.MapAttribute{
				ElementType: types.StringType,
				Optional:    true,
				Description: "Labels of the InferenceService. Labels other tools add are left alone and are not drift.",
			},
			"annotations": schema.MapAttribute{
				ElementType: types.StringType,
				Optional:    true,
				Description: "Annotations of the InferenceService, e.g. `serving.kserve.io/secretKey` and " +
					"`serving.kserve.io/schemaPath` alongside `storage_uri`. `" + deploymentModeAnnotation + ": " +
					deploymentModeModelMesh + "` is always set by the provider and must not be listed. " +
					"Annotations other tools add are left alone and are not drift.",
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.NoneOf(deploymentModeAnnotation)),
				},
			},
			"runtime": optional("Name of the ServingRuntime or ClusterServingRuntime to serve the model with "+
				"(`spec.predictor.model.runtime`), e.g. `asm_serving_runtime.example.name`. Without it ModelMesh only "+
				"considers runtimes whose `supported_model_formats` entry for the model format has `auto_select = true`.", nonEmpty),
			"storage_uri": optional("URI of the model (`spec.predictor.model.storageUri`), e.g. `s3://bucket/path`. "+
				"Exactly one of `storage` and `storage_uri` must be set.", nonEmpty),
			"service_account_name": optional("Service account of the predictor (`spec.predictor.serviceAccountName`).", nonEmpty),
			"wait_for_ready": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
				Description: "Wait, after creating the object or changing its model, until ModelMesh reports the model " +
					"Loaded and Ready. Defaults to `true`.",
			},
			"force_conflicts": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
				Description: "Take ownership of fields another field manager (kubectl, another tool) set, instead of " +
					"failing with a conflict. Defaults to `false`.",
			},
			"mesh_id": optional("ID of the ASM instance whose data-plane cluster serves the model. When set, the plan "+
				"checks with the ASM API that the mesh runs ASM "+modelMeshMinimumVersion+" or later, which ModelMesh "+
				"custom runtimes require.", nonEmpty),
			"ready": schema.BoolAttribute{
				Computed:    true,
				Description: "Whether the `Ready` condition is `True`.",
			},
			"url":                  computedString("`status.url`: the gRPC endpoint of ModelMesh for this model, e.g. `grpc://modelmesh-serving.modelmesh-serving:8033`."),
			"grpc_url":             computedString("`status.components.predictor.grpcUrl`."),
			"rest_url":             computedString("`status.components.predictor.restUrl`; set when the REST proxy is enabled."),
			"active_model_state":   computedString("State of the model serving requests: `Pending`, `Standby`, `Loading`, `Loaded` or `FailedToLoad`."),
			"target_model_state":   computedString("State of the model replacing the active one after a change (empty when none)."),
			"transition_status":    computedString("`UpToDate`, `InProgress`, `BlockedByFailedLoad` or `InvalidSpec`."),
			"total_copies":         schema.Int64Attribute{Computed: true, Description: "Number of copies of the model loaded."},
			"failed_copies":        schema.Int64Attribute{Computed: true, Description: "Number of copies that failed to load."},
			"last_failure_reason":  computedString("Reason of the last failure, e.g. `ModelLoadFailed` or `NoSupportingRuntime`."),
			"last_failure_message": computedString("Message of the last failure."),
		},
		Blocks: map[string]schema.Block{
			"model_format": schema.SingleNestedBlock{
				Description: "Format of the model (`spec.predictor.model.modelFormat`). Required.",
				// Required attributes inside a block are enforced even when the block is absent, so
				// the block's validators require them instead.
				Validators: []validator.Object{objectvalidator.IsRequired(), objectvalidator.AlsoRequires(path.MatchRelative().AtName("name"))},
				Attributes: map[string]schema.Attribute{
					"name":    optional("Format name, e.g. `sklearn` or a custom one such as `my-model`. Required.", nonEmpty),
					"version": optional("Format version, e.g. `1`.", nonEmpty),
				},
			},
			"storage": schema.SingleNestedBlock{
				Description: "Where the model is stored (`spec.predictor.model.storage`). Exactly one of `storage` and `storage_uri` must be set.",
				Validators:  []validator.Object{objectvalidator.AlsoRequires(path.MatchRelative().AtName("path"))},
				Attributes: map[string]schema.Attribute{
					"key": optional("Key of the `storage-config` Secret holding the storage's credentials, e.g. "+
						"`asm_model_storage.example.name`. ModelMesh uses its default key when unset.", nonEmpty),
					"path":        optional("Path of the model in the storage, e.g. `sklearn/mnist-svm.joblib`. Required.", nonEmpty),
					"schema_path": optional("Path of the model's schema file in the storage.", nonEmpty),
					"parameters": schema.MapAttribute{
						ElementType: types.StringType,
						Optional:    true,
						Description: "Parameters overriding the storage configuration, e.g. `{ bucket = \"other-bucket\" }`.",
					},
				},
			},
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
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

// object is the configuration to apply: only the fields Terraform manages.
func (m *inferenceServiceModel) object(ctx context.Context) (*unstructured.Unstructured, diag.Diagnostics) {
	var diags diag.Diagnostics
	stringMap := func(v types.Map) map[string]any {
		if v.IsNull() {
			return nil
		}
		var strings map[string]string
		diags.Append(v.ElementsAs(ctx, &strings, false)...)
		out := make(map[string]any, len(strings))
		for k, s := range strings {
			out[k] = s
		}
		return out
	}
	setString := func(into map[string]any, key string, v types.String) {
		if !v.IsNull() {
			into[key] = v.ValueString()
		}
	}

	metadata := map[string]any{"name": m.Name.ValueString(), "namespace": m.Namespace.ValueString()}
	if labels := stringMap(m.Labels); labels != nil {
		metadata["labels"] = labels
	}
	annotations := stringMap(m.Annotations)
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations[deploymentModeAnnotation] = deploymentModeModelMesh
	metadata["annotations"] = annotations

	model := map[string]any{}
	if m.ModelFormat != nil {
		format := map[string]any{}
		setString(format, "name", m.ModelFormat.Name)
		setString(format, "version", m.ModelFormat.Version)
		model["modelFormat"] = format
	}
	setString(model, "runtime", m.Runtime)
	if m.Storage != nil {
		storage := map[string]any{}
		setString(storage, "key", m.Storage.Key)
		setString(storage, "path", m.Storage.Path)
		setString(storage, "schemaPath", m.Storage.SchemaPath)
		if parameters := stringMap(m.Storage.Parameters); parameters != nil {
			storage["parameters"] = parameters
		}
		model["storage"] = storage
	}
	setString(model, "storageUri", m.StorageURI)
	predictor := map[string]any{"model": model}
	setString(predictor, "serviceAccountName", m.ServiceAccountName)

	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.InferenceService.APIVersion(),
		"kind":       kube.InferenceService.Kind,
		"metadata":   metadata,
		"spec":       map[string]any{"predictor": predictor},
	}}, diags
}

// readFrom refreshes the model from the live object. A field counts when Terraform manages it: it is
// in state, or Terraform's field manager owns it. Fields only other tools or webhooks set are not
// drift, while a managed field another tool changed or removed is. An object the manager never
// applied (just imported) is read in full.
func (m *inferenceServiceModel) readFrom(obj *unstructured.Unstructured, fieldManager string) diag.Diagnostics {
	var diags diag.Diagnostics
	owned, err := kube.Owned(obj, fieldManager)
	if err != nil {
		diags.AddError("Reading field ownership failed", err.Error())
		return diags
	}
	imported := !owned.Has()
	managed := func(inState bool, fields ...string) bool { return imported || inState || owned.Has(fields...) }
	str := func(prior types.String, fields ...string) types.String {
		if !managed(!prior.IsNull(), fields...) {
			return types.StringNull()
		}
		return nestedString(obj, fields...)
	}
	managedKeys := func(prior types.Map, live map[string]string, fields ...string) map[string]string {
		out := map[string]string{}
		for k, v := range live {
			if _, inState := prior.Elements()[k]; managed(inState, append(slices.Clone(fields), k)...) {
				out[k] = v
			}
		}
		return out
	}

	m.ID = types.StringValue(obj.GetNamespace() + "/" + obj.GetName())
	m.Name = types.StringValue(obj.GetName())
	m.Namespace = types.StringValue(obj.GetNamespace())
	m.Labels = stringMapValue(m.Labels, managedKeys(m.Labels, obj.GetLabels(), "metadata", "labels"))
	annotations := managedKeys(m.Annotations, obj.GetAnnotations(), "metadata", "annotations")
	// The mode is the provider's, not the configuration's; anything but ModelMesh shows as drift to undo.
	delete(annotations, deploymentModeAnnotation)
	if mode := obj.GetAnnotations()[deploymentModeAnnotation]; mode != deploymentModeModelMesh {
		annotations[deploymentModeAnnotation] = mode
	}
	m.Annotations = stringMapValue(m.Annotations, annotations)

	at := func(fields ...string) []string { return append([]string{"spec", "predictor", "model"}, fields...) }
	if managed(m.ModelFormat != nil, at("modelFormat")...) {
		prior := m.ModelFormat
		if prior == nil {
			prior = &modelFormatModel{Name: types.StringNull(), Version: types.StringNull()}
		}
		m.ModelFormat = &modelFormatModel{Name: str(prior.Name, at("modelFormat", "name")...), Version: str(prior.Version, at("modelFormat", "version")...)}
	}
	m.Runtime = str(m.Runtime, at("runtime")...)
	if managed(m.Storage != nil, at("storage")...) {
		prior := m.Storage
		if prior == nil {
			prior = &modelStorageRef{Key: types.StringNull(), Path: types.StringNull(), SchemaPath: types.StringNull(), Parameters: types.MapNull(types.StringType)}
		}
		parameters, _, _ := unstructured.NestedStringMap(obj.Object, at("storage", "parameters")...)
		m.Storage = &modelStorageRef{
			Key:        str(prior.Key, at("storage", "key")...),
			Path:       str(prior.Path, at("storage", "path")...),
			SchemaPath: str(prior.SchemaPath, at("storage", "schemaPath")...),
			Parameters: stringMapValue(prior.Parameters, managedKeys(prior.Parameters, parameters, at("storage", "parameters")...)),
		}
	}
	m.StorageURI = str(m.StorageURI, at("storageUri")...)
	m.ServiceAccountName = str(m.ServiceAccountName, "spec", "predictor", "serviceAccountName")
	m.inferenceServiceStatus = statusOf(obj)
	return diags
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

func nestedString(obj *unstructured.Unstructured, fields ...string) types.String {
	if v, found, _ := unstructured.NestedString(obj.Object, fields...); found {
		return types.StringValue(v)
	}
	return types.StringNull()
}

func statusOf(obj *unstructured.Unstructured) inferenceServiceStatus {
	ready := false
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if c, ok := c.(map[string]any); ok && c["type"] == "Ready" {
			ready = c["status"] == "True"
		}
	}
	modelStatus := func(fields ...string) types.String {
		return nestedString(obj, append([]string{"status", "modelStatus"}, fields...)...)
	}
	copies := func(field string) types.Int64 {
		if n, found, _ := unstructured.NestedInt64(obj.Object, "status", "modelStatus", "copies", field); found {
			return types.Int64Value(n)
		}
		return types.Int64Null()
	}
	return inferenceServiceStatus{
		Ready:              types.BoolValue(ready),
		URL:                nestedString(obj, "status", "url"),
		GRPCURL:            nestedString(obj, "status", "components", "predictor", "grpcUrl"),
		RESTURL:            nestedString(obj, "status", "components", "predictor", "restUrl"),
		ActiveModelState:   modelStatus("states", "activeModelState"),
		TargetModelState:   modelStatus("states", "targetModelState"),
		TransitionStatus:   modelStatus("transitionStatus"),
		TotalCopies:        copies("totalCopies"),
		FailedCopies:       copies("failedCopies"),
		LastFailureReason:  modelStatus("lastFailureInfo", "reason"),
		LastFailureMessage: modelStatus("lastFailureInfo", "message"),
	}
}

// fillUnknown takes the live value for every attribute the plan left unknown. Known planned values
// are what the plan promised, and an apply must keep its promises; a status that moved on since the
// plan's refresh shows at the next refresh.
func (s *inferenceServiceStatus) fillUnknown(live inferenceServiceStatus) {
	s.Ready = knownOr(s.Ready, live.Ready)
	s.URL = knownOr(s.URL, live.URL)
	s.GRPCURL = knownOr(s.GRPCURL, live.GRPCURL)
	s.RESTURL = knownOr(s.RESTURL, live.RESTURL)
	s.ActiveModelState = knownOr(s.ActiveModelState, live.ActiveModelState)
	s.TargetModelState = knownOr(s.TargetModelState, live.TargetModelState)
	s.TransitionStatus = knownOr(s.TransitionStatus, live.TransitionStatus)
	s.TotalCopies = knownOr(s.TotalCopies, live.TotalCopies)
	s.FailedCopies = knownOr(s.FailedCopies, live.FailedCopies)
	s.LastFailureReason = knownOr(s.LastFailureReason, live.LastFailureReason)
	s.LastFailureMessage = knownOr(s.LastFailureMessage, live.LastFailureMessage)
}

func knownOr[T attr.Value](planned, live T) T {
	if planned.IsUnknown() {
		return live
	}
	return planned
}

// loadWaiter decides, for each version of the object seen while watching, whether ModelMesh has
// finished loading the spec that was applied.
type loadWaiter struct {
	generation      int64
	resourceVersion string
	// specChanged: the apply changed the spec, so the status in its response describes the old one.
	specChanged bool
	// placementGrace: a placement failure does not end the wait (see placementGrace).
	placementGrace bool
}

// placementGrace is how long a placement failure (RuntimeNotRecognized, NoSupportingRuntime) may
// last before it counts. ModelMesh places a model again whenever runtimes change, and its cache of
// runtimes can trail one created moments earlier in the same apply, or lag after an apiserver
// restart; only a failure that outlasts the grace is a real misconfiguration.
const placementGrace = 30 * time.Second

// wait watches the object until the applied spec is Loaded or has failed, and returns the last
// version seen.
func (w loadWaiter) wait(ctx context.Context, client *kube.Client, ref kube.Ref) (*unstructured.Unstructured, error) {
	last, err := client.WaitFor(ctx, ref, w.done)
	var failed *loadFailedError
	if !errors.As(err, &failed) || !placementFailed(failed.status) {
		return last, err
	}
	graceCtx, cancel := context.WithTimeout(ctx, placementGrace)
	defer cancel()
	w.placementGrace = true
	seen, err := client.WaitFor(graceCtx, ref, w.done)
	if seen != nil {
		last = seen
	}
	if err != nil && ctx.Err() == nil && graceCtx.Err() != nil {
		return last, &loadFailedError{status: statusOf(last)}
	}
	return last, err
}

var errDeletedWhileWaiting = errors.New("the InferenceService was deleted while waiting for its model to load")

// loadFailedError carries ModelMesh's verdict on a load that cannot succeed without a change.
type loadFailedError struct {
	status inferenceServiceStatus
}

func (e *loadFailedError) Error() string {
	return fmt.Sprintf("model load failed: %s: %s", e.status.LastFailureReason.ValueString(), e.status.LastFailureMessage.ValueString())
}

func (w loadWaiter) done(obj *unstructured.Unstructured) (bool, error) {
	if obj == nil {
		return false, errDeletedWhileWaiting
	}
	if !w.current(obj) {
		return false, nil
	}
	s := statusOf(obj)
	if s.Ready.ValueBool() && s.ActiveModelState.ValueString() == modelStateLoaded && s.TransitionStatus.ValueString() == transitionUpToDate {
		return true, nil
	}
	if loadFailed(s) && (!w.placementGrace || !placementFailed(s)) {
		return false, &loadFailedError{status: s}
	}
	return false, nil
}

// current reports whether obj's status describes the applied spec. A controller that writes
// status.observedGeneration is taken at its word. ModelMesh does not write it; its status updates
// carry the resourceVersion they were computed from and are rejected when stale, so any version
// after the apply's response has a status computed from the applied spec.
func (w loadWaiter) current(obj *unstructured.Unstructured) bool {
	if observed, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration"); found {
		return observed >= w.generation
	}
	return !w.specChanged || obj.GetResourceVersion() != w.resourceVersion
}

// loadFailed reports the states in which ModelMesh stops trying until the spec or the runtimes change.
func loadFailed(s inferenceServiceStatus) bool {
	switch s.TransitionStatus.ValueString() {
	case "BlockedByFailedLoad", "InvalidSpec":
		return true
	}
	return placementFailed(s) || s.ActiveModelState.ValueString() == modelStateFailedToLoad ||
		s.TargetModelState.ValueString() == modelStateFailedToLoad
}

// placementFailed reports that ModelMesh found no runtime for the model, which it retries by
// itself when runtimes change.
func placementFailed(s inferenceServiceStatus) bool {
	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized":
		return true
	}
	return false
}

// waitFailure explains why waiting ended without a Loaded model, and what to check.
func waitFailure(ctx context.Context, operation string, m *inferenceServiceModel, s inferenceServiceStatus, err error, timeout time.Duration) (string, string) {
	ref := m.ref()
	kept := "The object is kept in Terraform state: a new object is marked tainted and replaced by the next apply; " +
		"after an update, the next apply waits again."
	var failed *loadFailedError
	switch {
	case errors.As(err, &failed):
		return fmt.Sprintf("%s failed to load its model", ref),
			fmt.Sprintf("ModelMesh reports %s\n\n%s\n\n%s", describeStatus(s), loadFailureHint(m, s), kept)
	case errors.Is(err, errDeletedWhileWaiting):
		return fmt.Sprintf("%s was deleted while waiting", ref),
			"Something else deleted the object before its model was Loaded; the next apply creates it again."
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("Timed out waiting for %s", ref),
			fmt.Sprintf("ModelMesh did not report the model Loaded within %s (timeouts.%s). Last status: %s\n\n"+
				"Check the pods of the serving runtime in namespace %q and their logs; if the model is just large, "+
				"raise timeouts.%s. %s", timeout, operation, describeStatus(s), ref.Namespace, operation, kept)
	case ctx.Err() != nil:
		return fmt.Sprintf("Interrupted while waiting for %s", ref),
			fmt.Sprintf("Stopped waiting for the model to load. Last status: %s\n\n%s", describeStatus(s), kept)
	}
	return fmt.Sprintf("Waiting for %s failed", ref), err.Error() + "\n\n" + kept
}

func describeStatus(s inferenceServiceStatus) string {
	text := fmt.Sprintf("transitionStatus=%q, activeModelState=%q, targetModelState=%q, ready=%t.",
		s.TransitionStatus.ValueString(), s.ActiveModelState.ValueString(), s.TargetModelState.ValueString(), s.Ready.ValueBool())
	if !s.LastFailureReason.IsNull() {
		text += fmt.Sprintf("\nLast failure: %s: %s", s.LastFailureReason.ValueString(), s.LastFailureMessage.ValueString())
	}
	return text
}

// loadFailureHint names the settings to check for a failure reason.
func loadFailureHint(m *inferenceServiceModel, s inferenceServiceStatus) string {
	namespace := m.Namespace.ValueString()
	format := "(none)"
	if m.ModelFormat != nil {
		format = fmt.Sprintf("%q", m.ModelFormat.Name.ValueString())
		if !m.ModelFormat.Version.IsNull() {
			format += fmt.Sprintf(" version %q", m.ModelFormat.Version.ValueString())
		}
	}
	runtime := "ModelMesh picks a runtime itself (runtime is not set)"
	if !m.Runtime.IsNull() {
		runtime = fmt.Sprintf("runtime %q", m.Runtime.ValueString())
	}
	storage := fmt.Sprintf("storage_uri %q", m.StorageURI.ValueString())
	if m.Storage != nil {
		key := "ModelMesh's default key"
		if !m.Storage.Key.IsNull() {
			key = fmt.Sprintf("key %q", m.Storage.Key.ValueString())
		}
		storage = fmt.Sprintf("storage %s, path %q", key, m.Storage.Path.ValueString())
	}

	switch s.LastFailureReason.ValueString() {
	case "NoSupportingRuntime", "RuntimeNotRecognized", "RuntimeDisabled":
		if m.Runtime.IsNull() {
			return fmt.Sprintf("No runtime is set, so ModelMesh only considers ServingRuntimes in namespace %q and "+
				"ClusterServingRuntimes that list model format %s with auto_select = true. Set runtime, or mark the format "+
				"auto_select in a runtime; if the runtime is created in the same apply, reference it so it is created first.",
				namespace, format)
		}
		return fmt.Sprintf("Check that %s exists as a ServingRuntime in namespace %q or as a ClusterServingRuntime, is not "+
			"disabled, has multi_model = true, and lists model format %s in supported_model_formats. If the runtime is "+
			"created in the same apply, reference it (runtime = asm_serving_runtime.<name>.name) so it is created first.",
			runtime, namespace, format)
	case "ModelLoadFailed":
		return fmt.Sprintf("Check the %s: the key must exist in the storage-config Secret of namespace %q "+
			"(asm_model_storage) with working credentials, and the model must exist at that path. Also check that %s "+
			"can load model format %s; its pod logs (failure location above) have details.", storage, namespace, runtime, format)
	case "RuntimeUnhealthy":
		return fmt.Sprintf("The runtime's pods are unhealthy: check the pods of %s in namespace %q.", runtime, namespace)
	}
	return fmt.Sprintf("Check model_format (%s), runtime (%s) and the %s.", format, runtime, storage)
}
