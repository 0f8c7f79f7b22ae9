package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

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

var secretKeyRegexp = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

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
	ID             types.String    `tfsdk:"id"`
	Name           types.String    `tfsdk:"name"`
	Namespace      types.String    `tfsdk:"namespace"`
	SecretName     types.String    `tfsdk:"secret_name"`
	Type           types.String    `tfsdk:"type"`
	S3             *s3StorageModel `tfsdk:"s3"`
	ConfigJSON     jsonObjectValue `tfsdk:"config_json"`
	ForceConflicts types.Bool      `tfsdk:"force_conflicts"`
	Timeouts       timeouts.Value  `tfsdk:"timeouts"`
}

// s3StorageModel's attribute names are the JSON field names ModelMesh reads.
type s3StorageModel struct {
	AccessKeyID     types.String `tfsdk:"access_key_id"`
	SecretAccessKey types.String `tfsdk:"secret_access_key"`
	EndpointURL     types.String `tfsdk:"endpoint_url"`
	Bucket          types.String `tfsdk:"bucket"`
	Region          types.String `tfsdk:"region"`
	DefaultBucket   types.String `tfsdk:"default_bucket"`
}

func (s *s3StorageModel) fields() map[string]*types.String {
	return map[string]*types.String{
		"access_key_id": &s.AccessKeyID, "secret_access_key": &s.SecretAccessKey, "endpoint_url": &s.EndpointURL,
		"bucket": &s.Bucket, "region": &s.Region, "default_bucket": &s.DefaultBucket,
	}
}

func (r *modelStorageResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_storage"
}

func (r *modelStorageResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	s3Attribute := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Description: desc, Validators: []validator.String{stringvalidator.LengthAtLeast(1)}}
	}
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "One storage backend of ModelMesh: a key of the `storage-config` Secret, whose JSON value holds the " +
			"storage type and credentials. InferenceServices name it in `storage.key`. Several of these resources (and other " +
			"tools) share the Secret: each owns only its key, through a server-side-apply field manager of its own " +
			"(`<provider field_manager>/storage/<name>`). The Secret is created when missing and is left in place on destroy, " +
			"which removes only this key. The value is written to `data` and only ever held in sensitive attributes. " +
			"Default timeouts: create, update and delete 2m. " +
			"Import with `<namespace>/<secret_name>/<name>`, e.g. `modelmesh-serving/storage-config/localMinIO`.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "`<namespace>/<secret_name>/<name>`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				Required: true,
				Description: "The key in the Secret, which `storage.key` of an `asm_inference_service` refers to, e.g. `localMinIO`. " +
					"Letters, digits, `-`, `_` and `.`. Changing it replaces the key.",
				Validators: []validator.String{
					stringvalidator.LengthBetween(1, validation.DNS1123SubdomainMaxLength),
					stringvalidator.RegexMatches(secretKeyRegexp, "must consist of letters, digits, '-', '_' or '.'"),
				},
				PlanModifiers: replace,
			},
			"namespace": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Description: "Namespace of the Secret. Defaults to the provider's `kubernetes.namespace` (itself defaulting " +
					"to `modelmesh-serving`). Changing it, or the provider default it came from, moves the key.",
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"secret_name": schema.StringAttribute{
				Optional:      true,
				Computed:      true,
				Default:       stringdefault.StaticString(defaultStorageSecret),
				Description:   "Name of the Secret ModelMesh reads storage configuration from. Defaults to `" + defaultStorageSecret + "`.",
				Validators:    []validator.String{stringvalidator.LengthAtLeast(1)},
				PlanModifiers: replace,
			},
			"type": schema.StringAttribute{
				Required:    true,
				Description: "Storage type written as the `type` field of the JSON value: `s3`, `gcs`, `azure`, `http`, `pvc`...",
				Validators:  []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"config_json": schema.StringAttribute{
				CustomType: jsonObjectType{},
				Optional:   true,
				Sensitive:  true,
				Description: "The remaining fields of the JSON value as a JSON object (without `type`), for types other " +
					"than `s3` or fields the `s3` block lacks, e.g. `jsonencode({ private_key = ... })`. Key order and " +
					"formatting do not matter. Exactly one of `s3` and `config_json` must be set.",
			},
			"force_conflicts": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
				Description: "Take the key over when another tool wrote a different value into it, instead of failing " +
					"with a conflict. Defaults to `false`.",
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
			"s3": schema.SingleNestedBlock{
				Description: "S3-compatible storage (AWS S3, Alibaba Cloud OSS, MinIO); requires `type = \"s3\"`. " +
					"Exactly one of `s3` and `config_json` must be set.",
				Attributes: map[string]schema.Attribute{
					"access_key_id": s3Attribute("Access key ID."),
					"secret_access_key": schema.StringAttribute{
						Optional:    true,
						Sensitive:   true,
						Description: "Secret access key.",
						Validators:  []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"endpoint_url":   s3Attribute("Endpoint URL, e.g. `http://minio.minio:9000` or `https://oss-cn-hangzhou-internal.aliyuncs.com`."),
					"bucket":         s3Attribute("Bucket holding the models."),
					"region":         s3Attribute("Region of the bucket, e.g. `us-south`."),
					"default_bucket": s3Attribute("Bucket used when an InferenceService's storage parameters name none."),
				},
			},
		},
	}
}

func (r *modelStorageResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("s3"), path.MatchRoot("config_json")),
	}
}

// ValidateConfig checks what the schema cannot say. Messages never quote config_json: it holds secrets.
func (r *modelStorageResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var config modelStorageModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if config.S3 != nil && !config.Type.IsUnknown() && config.Type.ValueString() != "s3" {
		resp.Diagnostics.AddAttributeError(path.Root("s3"), "s3 block needs type = \"s3\"",
			fmt.Sprintf("type is %q; use config_json for the fields of other storage types.", config.Type.ValueString()))
	}
	doc, err := config.ConfigJSON.object()
	if err != nil {
		detail := "config_json must be a JSON object, e.g. jsonencode({ ... })."
		if syntaxErr := (*json.SyntaxError)(nil); errors.As(err, &syntaxErr) {
			detail += fmt.Sprintf(" It has a syntax error at byte %d.", syntaxErr.Offset)
		}
		resp.Diagnostics.AddAttributeError(path.Root("config_json"), "Invalid config_json", detail)
		return
	}
	if _, ok := doc["type"]; ok {
		resp.Diagnostics.AddAttributeError(path.Root("config_json"), "type in config_json",
			"Set the storage type with the type attribute, not inside config_json.")
	}
}

func (r *modelStorageResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	planNamespace(ctx, r.data, req, resp)
}

func (r *modelStorageResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.applyPlan(ctx, req.Plan, true, &resp.State, &resp.Diagnostics)
}

func (r *modelStorageResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.applyPlan(ctx, req.Plan, false, &resp.State, &resp.Diagnostics)
}

// applyPlan is Create (create set) and Update: both write the planned key, within the create or
// update timeout, and store the plan.
func (r *modelStorageResource) applyPlan(ctx context.Context, planned tfsdk.Plan, create bool, state *tfsdk.State, diags *diag.Diagnostics) {
	var plan modelStorageModel
	diags.Append(planned.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	timeoutOf := plan.Timeouts.Update
	if create {
		timeoutOf = plan.Timeouts.Create
	}
	timeout, timeoutDiags := timeoutOf(ctx, modelStorageTimeout)
	diags.Append(timeoutDiags...)
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
		diags.AddAttributeError(path.Root("config_json"), "Invalid config_json", "config_json must be a JSON object.")
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
	timeout, diags := state.Timeouts.Delete(ctx, modelStorageTimeout)
	resp.Diagnostics.Append(diags...)
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

func (m *modelStorageModel) ref() kube.Ref {
	return kube.Ref{Kind: kube.Secret, Namespace: m.Namespace.ValueString(), Name: m.SecretName.ValueString()}
}

// fieldManager is the resource's own manager, so that resources sharing the Secret never take each
// other's keys away. Kubernetes limits manager names to 128 bytes; long keys are hashed.
func (r *modelStorageResource) fieldManager(key string) string {
	manager := r.data.fieldManager + "/storage/" + key
	if len(manager) > 128 {
		sum := sha256.Sum256([]byte(key))
		manager = r.data.fieldManager + "/storage/" + hex.EncodeToString(sum[:8])
	}
	return manager
}

func secretObject(ref kube.Ref) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.Secret.APIVersion(),
		"kind":       kube.Secret.Kind,
		"metadata":   map[string]any{"name": ref.Name, "namespace": ref.Namespace},
	}}
}

// document is the JSON value of the key: type, then the s3 block's or config_json's fields.
func (m *modelStorageModel) document() ([]byte, error) {
	doc, err := m.ConfigJSON.object()
	if err != nil {
		return nil, err
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if m.S3 != nil {
		for key, field := range m.S3.fields() {
			if !field.IsNull() {
				doc[key] = field.ValueString()
			}
		}
	}
	doc["type"] = m.Type.ValueString()
	return json.Marshal(doc)
}

// readDocument sets type, s3 and config_json from the key's value, in the form the state already
// uses. Fields the s3 block has no attribute for land in config_json, so that any out-of-band change
// shows as drift. A freshly imported key takes the s3 form when everything fits in it.
func (m *modelStorageModel) readDocument(value []byte) diag.Diagnostics {
	var diags diag.Diagnostics
	var doc map[string]any
	if err := json.Unmarshal(value, &doc); err != nil || doc == nil {
		// Not ours any more: show it as it is, for the next apply to overwrite.
		m.Type, m.S3 = types.StringNull(), nil
		m.ConfigJSON = jsonObjectValue{StringValue: types.StringValue(string(value))}
		return diags
	}
	m.Type = types.StringNull()
	if t, ok := doc["type"].(string); ok {
		m.Type = types.StringValue(t)
		delete(doc, "type")
	}
	useS3 := m.S3 != nil
	if m.S3 == nil && m.ConfigJSON.IsNull() {
		useS3 = m.Type.ValueString() == "s3" && fitsS3(doc)
	}
	m.S3 = nil
	if useS3 {
		m.S3 = &s3StorageModel{}
		for key, field := range m.S3.fields() {
			*field = types.StringNull()
			if s, ok := doc[key].(string); ok {
				*field = types.StringValue(s)
				delete(doc, key)
			}
		}
	}
	if len(doc) == 0 {
		doc = nil
	}
	configJSON, err := jsonObjectOf(doc)
	if err != nil {
		diags.AddError("Encoding config_json failed", err.Error())
		return diags
	}
	m.ConfigJSON = configJSON
	return diags
}

func fitsS3(doc map[string]any) bool {
	fields := (&s3StorageModel{}).fields()
	for key, v := range doc {
		if _, ok := v.(string); !ok || fields[key] == nil {
			return false
		}
	}
	return true
}
