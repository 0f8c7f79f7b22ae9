package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
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
