package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// The asm_model_storage schema, and the checks at validate time that it cannot say itself.

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
			"which removes only this key. The value is written to `data` and only ever held in sensitive attributes; " +
			"with Terraform or OpenTofu 1.11 or later, its secrets can be write-only arguments (`s3.secret_access_key_wo`, " +
			"`config_json_wo`), which reach neither state nor plan. " +
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
				Validators:    []validator.String{secretKey()},
				PlanModifiers: replace,
			},
			"namespace": namespaceAttribute("Secret", "moves the key"),
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
					"formatting do not matter. Kept in state (marked sensitive): with Terraform or OpenTofu 1.11 or " +
					"later, prefer `config_json_wo`. " + exactlyOneDocument,
			},
			"config_json_wo": schema.StringAttribute{
				CustomType: jsonObjectType{},
				Optional:   true,
				Sensitive:  true,
				WriteOnly:  true,
				Description: "`config_json` as a write-only argument: written to the Secret, never stored in state or " +
					"plan. Needs Terraform or OpenTofu 1.11 or later; use `config_json` with older versions. " +
					"Requires `config_json_wo_version`. Changes to the key's fields made outside Terraform are " +
					"not detected. " + exactlyOneDocument,
				Validators: []validator.String{stringvalidator.AlsoRequires(path.MatchRoot("config_json_wo_version"))},
			},
			"config_json_wo_version": writeOnlyVersion("config_json_wo", path.MatchRoot("config_json_wo")),
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
					exactlyOneDocument,
				Attributes: map[string]schema.Attribute{
					"access_key_id": s3Attribute("Access key ID."),
					"secret_access_key": schema.StringAttribute{
						Optional:  true,
						Sensitive: true,
						Description: "Secret access key. Kept in state (marked sensitive): with Terraform or OpenTofu 1.11 " +
							"or later, prefer `secret_access_key_wo`.",
						Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
					},
					"secret_access_key_wo": schema.StringAttribute{
						Optional:  true,
						Sensitive: true,
						WriteOnly: true,
						Description: "`secret_access_key` as a write-only argument: written to the Secret, never stored in " +
							"state or plan. Needs Terraform or OpenTofu 1.11 or later; use `secret_access_key` with older " +
							"versions. Conflicts with `secret_access_key`; requires `secret_access_key_wo_version`. A change " +
							"made to the secret outside Terraform is not detected.",
						Validators: []validator.String{
							stringvalidator.LengthAtLeast(1),
							stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("secret_access_key")),
							stringvalidator.AlsoRequires(path.MatchRelative().AtParent().AtName("secret_access_key_wo_version")),
						},
					},
					"secret_access_key_wo_version": writeOnlyVersion("secret_access_key_wo",
						path.MatchRelative().AtParent().AtName("secret_access_key_wo")),
					// OSS's S3-compatible forms: help.aliyun.com/en/oss/developer-reference/use-aws-sdks-to-access-oss.
					"endpoint_url": s3Attribute("Endpoint URL, e.g. `http://minio.minio:9000`, or OSS's S3-compatible endpoint " +
						"`https://s3.oss-<region>.aliyuncs.com` (`https://s3.oss-<region>-internal.aliyuncs.com` from inside the region)."),
					"bucket":         s3Attribute("Bucket holding the models."),
					"region":         s3Attribute("Region of the bucket, e.g. `us-south`."),
					"default_bucket": s3Attribute("Bucket used when an InferenceService's storage parameters name none."),
				},
			},
		},
	}
}

// exactlyOneDocument is the rule ConfigValidators enforces, as the descriptions state it.
const exactlyOneDocument = "Exactly one of `s3`, `config_json` and `config_json_wo` must be set."

// writeOnlyVersion is the version attribute of the write-only argument at woPath: Terraform never
// plans a change of a write-only value, so changing the version is what makes it write the value again.
func writeOnlyVersion(wo string, woPath path.Expression) schema.Int64Attribute {
	return schema.Int64Attribute{
		Optional: true,
		Description: fmt.Sprintf("Version of `%[1]s`, kept in state: change it (e.g. increment it) to write a new "+
			"`%[1]s` to the Secret, as Terraform cannot see a change of a write-only value. Requires `%[1]s`.", wo),
		Validators: []validator.Int64{int64validator.AlsoRequires(woPath)},
	}
}

func (r *modelStorageResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("s3"), path.MatchRoot("config_json"), path.MatchRoot("config_json_wo")),
	}
}

// ValidateConfig checks what the schema cannot say. Messages never quote config_json or
// config_json_wo: they hold secrets.
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
	for attribute, value := range map[string]jsonObjectValue{"config_json": config.ConfigJSON, "config_json_wo": config.ConfigJSONWO} {
		validateStorageJSON(path.Root(attribute), value, &resp.Diagnostics)
	}
	if !req.ClientCapabilities.WriteOnlyAttributesAllowed {
		// The framework refuses the value too, but without saying what to use instead.
		for _, wo := range []struct {
			at  path.Path
			set bool
		}{
			{path.Root("config_json_wo"), !config.ConfigJSONWO.IsNull()},
			{path.Root("s3").AtName("secret_access_key_wo"), config.S3 != nil && !config.S3.SecretAccessKeyWO.IsNull()},
		} {
			if wo.set {
				resp.Diagnostics.AddAttributeError(wo.at, wo.at.String()+" needs Terraform or OpenTofu 1.11 or later",
					fmt.Sprintf("This Terraform or OpenTofu version cannot send write-only arguments. Upgrade it to 1.11 "+
						"or later, or set %[1]s instead of %[2]s and remove %[2]s_version: %[1]s is kept in state, "+
						"marked sensitive.", strings.TrimSuffix(wo.at.String(), "_wo"), wo.at))
			}
		}
	}
}

// validateStorageJSON requires a JSON object without type, which has an attribute of its own.
func validateStorageJSON(at path.Path, value jsonObjectValue, diags *diag.Diagnostics) {
	doc, err := value.object()
	if err != nil {
		detail := at.String() + " must be a JSON object, e.g. jsonencode({ ... })."
		if syntaxErr := (*json.SyntaxError)(nil); errors.As(err, &syntaxErr) {
			detail += fmt.Sprintf(" It has a syntax error at byte %d.", syntaxErr.Offset)
		}
		diags.AddAttributeError(at, "Invalid "+at.String(), detail)
		return
	}
	if _, ok := doc["type"]; ok {
		diags.AddAttributeError(at, "type in "+at.String(), "Set the storage type with the type attribute, not inside "+at.String()+".")
	}
}
