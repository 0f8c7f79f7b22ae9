package provider

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

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
			"Loaded and Ready (see `wait_for_ready`). It fails with ModelMesh's reason when the load fails for good (e.g. " +
			"`ModelLoadFailed`, `RuntimeNotRecognized`, `NoSupportingRuntime`), but waits while ModelMesh retries a failed load in " +
			"another Pod or a new runtime's model types have not reached it yet (see the debugging guide); when the runtime's Pods have been stuck for 30s " +
			"(image pull, crash loop, missing configuration, unschedulable), naming the Pod and the `kubectl` command to run; and " +
			"when ModelMesh writes no status for 45s in a namespace without `modelmesh-enabled=true`. A namespace labelled " +
			"`modelmesh-enabled` with another value is refused before anything is created. An apply that fails or times out " +
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
			"namespace": namespaceAttribute("InferenceService", "replaces the object"),
			"labels": schema.MapAttribute{
				ElementType: types.StringType,
				Optional:    true,
				Description: "Labels of the InferenceService. Labels other tools add are left alone and are not drift.",
			},
			"annotations": schema.MapAttribute{
				ElementType: types.StringType,
				Optional:    true,
				Description: "Annotations of the InferenceService, e.g. `" + secretKeyAnnotation + "` and `" +
					schemaPathAnnotation + "`, which ModelMesh takes as the storage key and schema path when `storage` " +
					"sets none: changing them then reloads the model, and the apply waits. `" + deploymentModeAnnotation + ": " +
					deploymentModeModelMesh + "` is always set by the provider and must not be listed; nor may `" +
					runtimeAnnotation + "`, which ModelMesh refuses next to the model spec the provider writes (use `runtime`). " +
					"Annotations other tools add are left alone and are not drift.",
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.NoneOf(deploymentModeAnnotation, runtimeAnnotation)),
				},
			},
			"runtime": optional("Name of the ServingRuntime or ClusterServingRuntime to serve the model with "+
				"(`spec.predictor.model.runtime`), e.g. `asm_serving_runtime.example.name`. Without it ModelMesh only "+
				"considers runtimes whose `supported_model_formats` entry for the model format has `auto_select = true`.", nonEmpty),
			"storage_uri": optional("URI of the model (`spec.predictor.model.storageUri`). ModelMesh accepts "+
				"`s3://<bucket>/<path>`, `gs://<bucket>/<path>`, `pvc://<claim>/<path>` and `http://` or `https://` URLs "+
				"(Azure Blob Storage ones, `https://<account>.blob.core.windows.net/<container>/<path>`, included); it ignores "+
				"an InferenceService with any other scheme, so the plan refuses one. Exactly one of `storage_uri` and "+
				"`storage.path` must be set; `storage.key`, `storage.parameters` and `storage.schema_path` may go with it.",
				nonEmpty, storageURI()),
			"protocol_version": optional("Inference protocol the model is served with (`spec.predictor.model.protocolVersion`): "+
				"`v1`, `v2`, `grpc-v1` or `grpc-v2`. Without `runtime`, ModelMesh places the model only on a runtime listing "+
				"this protocol in its `protocol_versions` (with ModelMesh's REST proxy enabled, as by default, a `grpc-v2` "+
				"runtime also serves `v2`), and a model no runtime serves is not loaded; with `runtime` it does not use it. Changing it reloads the model, and the apply waits.",
				stringvalidator.OneOf(inferenceProtocols...)),
			"service_account_name": optional("Service account of the predictor (`spec.predictor.serviceAccountName`). "+
				"ModelMesh ignores it: models are loaded by the runtime's Pods, which run as the service account "+
				"ModelMesh's `model-serving-config` ConfigMap names (`serviceAccountName`). Kept for existing configurations; changing it never reloads the "+
				"model and the apply does not wait for one.", nonEmpty),
			"wait_for_ready": schema.BoolAttribute{
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
				Description: "Wait, after creating the object or changing its model, until ModelMesh reports the applied " +
					"model `Loaded`, `transition_status` `UpToDate` and the `Ready` condition `True` (what `kubectl wait " +
					"--for=condition=Ready` waits for, plus the load). Turning it on, or an apply after one that stopped waiting, " +
					"starts no load: that wait ends at `UpToDate` with the model `Loaded` or in `Standby` (ModelMesh loads a " +
					"Standby model at its first request). Defaults to `true`.",
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
				Computed: true,
				Description: "Whether the `Ready` condition is `True`. ModelMesh sets it unless the model failed to load " +
					"or waits for a runtime Pod, so it is already `True` while a model loads.",
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
				Description: "Where the model is stored (`spec.predictor.model.storage`). Exactly one of `storage.path` and " +
					"`storage_uri` must be set: with `storage_uri` the block only adds the key, parameters and schema path.",
				Attributes: map[string]schema.Attribute{
					"key": optional("Key of the `storage-config` Secret holding the storage's credentials, e.g. "+
						"`asm_model_storage.example.name`. When unset ModelMesh takes the annotation `"+secretKeyAnnotation+
						"`, else its default key.", nonEmpty),
					"path": optional("Path of the model in the storage, e.g. `sklearn/mnist-svm.joblib`. Required unless "+
						"`storage_uri` is set.", nonEmpty),
					"schema_path": optional("Path of the model's schema file in the storage. When unset ModelMesh takes "+
						"the annotation `"+schemaPathAnnotation+"`.", nonEmpty),
					"parameters": schema.MapAttribute{
						ElementType: types.StringType,
						Optional:    true,
						Description: "Parameters overriding the storage configuration, e.g. `{ bucket = \"other-bucket\" }`. " +
							"With `storage_uri`, the parameters the URI implies (`type`, and `bucket`, `name`, `url` or " +
							"`container` and `account_name`) take precedence.",
					},
				},
			},
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

// Annotations ModelMesh reads (pkg/predictor_source/inferenceservice_registry.go of
// github.com/kserve/modelmesh-serving v0.12.0): the storage key and schema path when
// spec.predictor.model.storage sets none (processInferenceServiceStorage), and the runtime of the old
// framework-style specs, which BuildBasePredictorFromInferenceService refuses next to a model spec:
// the controller then gives up on the object without writing a status.
const (
	secretKeyAnnotation  = "serving.kserve.io/secretKey"
	schemaPathAnnotation = "serving.kserve.io/schemaPath"
	runtimeAnnotation    = "serving.kserve.io/servingRuntime"
)

// inferenceProtocols are KServe v0.12.0's InferenceServiceProtocol values (ProtocolV1, ProtocolV2,
// ProtocolGRPCV1, ProtocolGRPCV2 in pkg/constants/constants.go of github.com/kserve/kserve).
var inferenceProtocols = []string{"v1", "v2", "grpc-v1", "grpc-v2"}

// storageURISchemes are the storageUri schemes ModelMesh v0.12.0 knows, after url.Parse (which
// lowercases the scheme) succeeds: processInferenceServiceStorage in
// pkg/predictor_source/inferenceservice_registry.go of github.com/kserve/modelmesh-serving. For any
// other the controller fails to build the model and writes no status at all.
var storageURISchemes = []string{"pvc", "s3", "gs", "http", "https"}

func storageURI() validator.String {
	return stringCheck{"must be a URI with a scheme ModelMesh supports: " + strings.Join(storageURISchemes, ", "), func(s string) []string {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			return []string{err.Error()}
		case u.Scheme == "":
			return []string{"no scheme"}
		case !slices.Contains(storageURISchemes, u.Scheme):
			return []string{fmt.Sprintf("scheme %q", u.Scheme)}
		}
		return nil
	}}
}
