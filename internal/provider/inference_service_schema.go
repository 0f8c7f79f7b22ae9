package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The asm_inference_service schema.

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
				Validators:    []validator.String{dnsLabel1035()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"namespace": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Description: "Namespace of the InferenceService. Defaults to the provider's `kubernetes.namespace` " +
					"(itself defaulting to `modelmesh-serving`). Changing it, or the provider default it came from, replaces the object.",
				Validators: []validator.String{dnsLabel()},
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
