package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
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
	_ resource.Resource                     = &modelStorageResource{}
	_ resource.ResourceWithConfigure        = &modelStorageResource{}
	_ resource.ResourceWithImportState      = &modelStorageResource{}
	_ resource.ResourceWithModifyPlan       = &modelStorageResource{}
	_ resource.ResourceWithConfigValidators = &modelStorageResource{}
	_ resource.ResourceWithValidateConfig   = &modelStorageResource{}
)

const defaultStorageSecret = "storage-config"

// NewModelStorageResource returns the asm_model_storage resource.
func NewModelStorageResource() resource.Resource {
	return &modelStorageResource{}
}

// modelStorageTimeout is the default of every timeout: each operation is a few requests, no wait.
const modelStorageTimeout = 2 * time.Minute

type modelStorageResource struct {
	configuredResource
}

type modelStorageModel struct {
	ID         types.String    `tfsdk:"id"`
	Name       types.String    `tfsdk:"name"`
	Namespace  types.String    `tfsdk:"namespace"`
	SecretName types.String    `tfsdk:"secret_name"`
	Type       types.String    `tfsdk:"type"`
	S3         *s3StorageModel `tfsdk:"s3"`
	ConfigJSON jsonObjectValue `tfsdk:"config_json"`
	// ConfigJSONWO is null but in the configuration, as Terraform never stores write-only values.
	ConfigJSONWO        jsonObjectValue `tfsdk:"config_json_wo"`
	ConfigJSONWOVersion types.Int64     `tfsdk:"config_json_wo_version"`
	ForceConflicts      types.Bool      `tfsdk:"force_conflicts"`
	Timeouts            timeouts.Value  `tfsdk:"timeouts"`
}

// s3StorageModel's attribute names are the JSON field names ModelMesh reads.
type s3StorageModel struct {
	AccessKeyID     types.String `tfsdk:"access_key_id"`
	SecretAccessKey types.String `tfsdk:"secret_access_key"`
	EndpointURL     types.String `tfsdk:"endpoint_url"`
	Bucket          types.String `tfsdk:"bucket"`
	Region          types.String `tfsdk:"region"`
	DefaultBucket   types.String `tfsdk:"default_bucket"`
	// SecretAccessKeyWO is null but in the configuration, as Terraform never stores write-only values.
	SecretAccessKeyWO        types.String `tfsdk:"secret_access_key_wo"`
	SecretAccessKeyWOVersion types.Int64  `tfsdk:"secret_access_key_wo_version"`
}

func (r *modelStorageResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_storage"
}

func (r *modelStorageResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	planNamespace(ctx, r.data, req, resp)
}

func (r *modelStorageResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.applyPlan(ctx, req.Config, req.Plan, true, &resp.State, &resp.Diagnostics)
}

func (r *modelStorageResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.applyPlan(ctx, req.Config, req.Plan, false, &resp.State, &resp.Diagnostics)
}

// applyPlan is Create (create set) and Update: both write the planned key, within the create or
// update timeout, and store the plan. The write-only values are only in the configuration; the
// framework drops them again from what is stored.
func (r *modelStorageResource) applyPlan(ctx context.Context, configured tfsdk.Config, planned tfsdk.Plan, create bool, state *tfsdk.State, diags *diag.Diagnostics) {
	var plan, config modelStorageModel
	diags.Append(planned.Get(ctx, &plan)...)
	diags.Append(configured.Get(ctx, &config)...)
	if diags.HasError() {
		return
	}
	plan.ConfigJSONWO = config.ConfigJSONWO
	if plan.S3 != nil && config.S3 != nil {
		plan.S3.SecretAccessKeyWO = config.S3.SecretAccessKeyWO
	}
	timeout := operationTimeout(ctx, plan.Timeouts, applyOperation(create), modelStorageTimeout, diags)
	if diags.HasError() {
		return
	}
	applyCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.apply(applyCtx, &plan, diags)
	if diags.HasError() {
		return
	}
	diags.Append(state.Set(ctx, &plan)...)
}

// apply writes the key under the resource's own field manager, creating the Secret when missing.
func (r *modelStorageResource) apply(ctx context.Context, plan *modelStorageModel, diags *diag.Diagnostics) {
	client := r.data.kubeClient(diags)
	if client == nil {
		return
	}
	value, err := plan.document()
	if err != nil {
		diags.AddAttributeError(path.Root("config_json"), "Invalid config_json", "config_json and config_json_wo must be a JSON object.")
		return
	}
	ref := plan.ref()
	obj := secretObject(ref)
	obj.Object["data"] = map[string]any{plan.Name.ValueString(): base64.StdEncoding.EncodeToString(value)}
	_, err = client.Apply(ctx, ref, obj, kube.ApplyOptions{FieldManager: r.fieldManager(plan.Name.ValueString()), Force: plan.ForceConflicts.ValueBool()})
	if err != nil {
		diags.AddError(fmt.Sprintf("Writing key %q of %s failed", plan.Name.ValueString(), ref), err.Error())
		return
	}
	plan.ID = types.StringValue(strings.Join([]string{ref.Namespace, ref.Name, plan.Name.ValueString()}, "/"))
}

func (r *modelStorageResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state modelStorageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.data.kubeClient(&resp.Diagnostics)
	if client == nil {
		return
	}
	secret, found := readObject(ctx, client, state.ref(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	var encoded string
	if found {
		encoded, _, _ = unstructured.NestedString(secret.Object, "data", state.Name.ValueString())
	}
	// The Secret or just the key removed out of band: the next apply writes it again.
	if encoded == "" {
		resp.State.RemoveResource(ctx)
		return
	}
	value, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Reading key %q of %s failed", state.Name.ValueString(), state.ref()),
			"The API server returned data that is not base64: "+err.Error())
		return
	}
	resp.Diagnostics.Append(state.readDocument(value)...)
	if resp.Diagnostics.HasError() {
		return
	}
	state.ID = types.StringValue(strings.Join([]string{secret.GetNamespace(), secret.GetName(), state.Name.ValueString()}, "/"))
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Delete releases the key by applying an empty Secret under the resource's field manager. Server-side
// apply keeps a released field that another manager also claims, so a key still present afterwards
// is removed explicitly: destroying this resource must not leave its credentials behind.
func (r *modelStorageResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state modelStorageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout := operationTimeout(ctx, state.Timeouts, "delete", modelStorageTimeout, &resp.Diagnostics)
	client := r.data.kubeClient(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ref, key, manager := state.ref(), state.Name.ValueString(), r.fieldManager(state.Name.ValueString())
	// Applying to a missing Secret would create it: look first.
	if _, found := readObject(ctx, client, ref, &resp.Diagnostics); resp.Diagnostics.HasError() || !found {
		return
	}
	released, err := client.Apply(ctx, ref, secretObject(ref), kube.ApplyOptions{FieldManager: manager})
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Releasing key %q of %s failed", key, ref), err.Error())
		return
	}
	if _, still, _ := unstructured.NestedString(released.Object, "data", key); !still {
		return
	}
	owners, _ := kube.Owners(released, "data", key)
	patch, _ := json.Marshal(map[string]any{"data": map[string]any{key: nil}})
	if _, err := client.MergePatch(ctx, ref, patch, manager); err != nil && !kube.IsNotFound(err) {
		resp.Diagnostics.AddError(fmt.Sprintf("Removing key %q of %s failed", key, ref), err.Error())
		return
	}
	resp.Diagnostics.AddWarning(fmt.Sprintf("Key %q of %s was also claimed by other tools", key, ref),
		fmt.Sprintf("Field managers %q had also written this key; it was removed anyway, and they may write it again.", owners))
}

func (r *modelStorageResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	parts := strings.Split(req.ID, "/")
	if len(parts) != 3 || slices.Contains(parts, "") {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("import id %q is not of the form <namespace>/<secret_name>/<key>, e.g. modelmesh-serving/storage-config/localMinIO", req.ID))
		return
	}
	for attribute, value := range map[string]attr.Value{
		"id": types.StringValue(req.ID), "namespace": types.StringValue(parts[0]), "secret_name": types.StringValue(parts[1]),
		"name": types.StringValue(parts[2]), "force_conflicts": types.BoolValue(false),
	} {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attribute), value)...)
	}
}
