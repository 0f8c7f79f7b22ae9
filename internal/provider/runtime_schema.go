package provider

import (
	"context"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The schema of KServe ServingRuntime and ClusterServingRuntime (serving.kserve.io/v1alpha1),
// shared by asm_serving_runtime and asm_cluster_serving_runtime; only the namespace differs.

// runtimeModel holds every attribute of both resources but the namespace.
type runtimeModel struct {
	ID                    types.String    `tfsdk:"id"`
	Name                  types.String    `tfsdk:"name"`
	Labels                types.Map       `tfsdk:"labels"`
	Annotations           types.Map       `tfsdk:"annotations"`
	SupportedModelFormats types.List      `tfsdk:"supported_model_formats"`
	MultiModel            types.Bool      `tfsdk:"multi_model"`
	Disabled              types.Bool      `tfsdk:"disabled"`
	ProtocolVersions      types.List      `tfsdk:"protocol_versions"`
	GRPCEndpoint          types.String    `tfsdk:"grpc_endpoint"`
	GRPCDataEndpoint      types.String    `tfsdk:"grpc_data_endpoint"`
	HTTPDataEndpoint      types.String    `tfsdk:"http_data_endpoint"`
	Replicas              types.Int64     `tfsdk:"replicas"`
	StorageHelperDisabled types.Bool      `tfsdk:"storage_helper_disabled"`
	BuiltInAdapter        types.Object    `tfsdk:"built_in_adapter"`
	Containers            types.List      `tfsdk:"containers"`
	MLServer              types.Object    `tfsdk:"mlserver"`
	Volumes               types.List      `tfsdk:"volumes"`
	NodeSelector          types.Map       `tfsdk:"node_selector"`
	Tolerations           types.List      `tfsdk:"tolerations"`
	Affinity              jsonObjectValue `tfsdk:"affinity"`
	ImagePullSecrets      types.List      `tfsdk:"image_pull_secrets"`
	PodLabels             types.Map       `tfsdk:"pod_labels"`
	PodAnnotations        types.Map       `tfsdk:"pod_annotations"`
	SpecOverridesJSON     jsonObjectValue `tfsdk:"spec_overrides_json"`
	ForceConflicts        types.Bool      `tfsdk:"force_conflicts"`
	Timeouts              timeouts.Value  `tfsdk:"timeouts"`
}

// namespacedRuntimeModel is the model of asm_serving_runtime.
type namespacedRuntimeModel struct {
	runtimeModel
	Namespace types.String `tfsdk:"namespace"`
}

// runtimeAttributes is the schema shared by both resources; runtimeSchema adds the rest.
func runtimeAttributes() map[string]schema.Attribute {
	stringMap := func(description string, v validator.Map) schema.MapAttribute {
		return schema.MapAttribute{Optional: true, ElementType: types.StringType, Description: description,
			Validators: []validator.Map{v}}
	}
	presetComputed := " Computed: with `mlserver`, defaults to the preset's value, otherwise stays unset."
	adapterInt := func(description string, validators ...validator.Int64) schema.Int64Attribute {
		return schema.Int64Attribute{Optional: true, Computed: true, Description: description + presetComputed, Validators: validators}
	}
	return map[string]schema.Attribute{
		"id": schema.StringAttribute{
			Computed:    true,
			Description: "`<namespace>/<name>` for a ServingRuntime, `<name>` for a ClusterServingRuntime.",
		},
		"name": schema.StringAttribute{
			Required:      true,
			Description:   "Object name (RFC 1123 subdomain). Changing it replaces the runtime.",
			Validators:    []validator.String{dnsSubdomain()},
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
		"labels": stringMap("Labels of the object. Only the keys set here are managed; keys added by others are left alone "+
			"and never show as changes.", labelMap()),
		"annotations": stringMap("Annotations of the object. Only the keys set here are managed; keys added by others are "+
			"left alone and never show as changes.", annotationMap()),
		"supported_model_formats": schema.ListNestedAttribute{
			Optional:    true,
			Description: "Model formats the runtime serves (`spec.supportedModelFormats`); a format may be listed once per version.",
			Validators:  []validator.List{uniqueBy{"name", "version"}},
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"name": schema.StringAttribute{Required: true, Description: "Format name, e.g. `sklearn`, `xgboost`, `onnx`.",
					Validators: []validator.String{stringvalidator.LengthAtLeast(1)}},
				"version": schema.StringAttribute{Optional: true, Description: "Format version, e.g. `1`."},
				"auto_select": schema.BoolAttribute{Optional: true,
					Description: "Use this runtime for models of this format that do not name a runtime."},
				"priority": schema.Int64Attribute{Optional: true,
					Description: "Preference among runtimes auto-selected for the same format (higher wins); at least 1.",
					Validators:  []validator.Int64{int64validator.AtLeast(1)}},
			}},
		},
		"multi_model": schema.BoolAttribute{
			Optional:    true,
			Computed:    true,
			Description: "Whether the runtime serves many models per pod, as ModelMesh requires (`spec.multiModel`)." + presetComputed,
		},
		"disabled": schema.BoolAttribute{
			Optional:    true,
			Description: "Keep the runtime defined but unused (`spec.disabled`).",
		},
		"protocol_versions": schema.ListAttribute{
			Optional:    true,
			Computed:    true,
			ElementType: types.StringType,
			Description: "Inference protocols served: `grpc-v2`, `grpc-v1`, `v2`, `v1` (`spec.protocolVersions`)." + presetComputed,
			Validators:  []validator.List{listvalidator.ValueStringsAre(stringvalidator.OneOf("grpc-v2", "grpc-v1", "v2", "v1"))},
		},
		"grpc_endpoint": schema.StringAttribute{
			Optional:    true,
			Computed:    true,
			Description: "Where the model server's management gRPC API listens: `port:<n>` or `unix:<path>` (`spec.grpcEndpoint`)." + presetComputed,
			Validators:  []validator.String{endpoint()},
		},
		"grpc_data_endpoint": schema.StringAttribute{
			Optional:    true,
			Computed:    true,
			Description: "Where the model server's inference gRPC API listens: `port:<n>` or `unix:<path>` (`spec.grpcDataEndpoint`)." + presetComputed,
			Validators:  []validator.String{endpoint()},
		},
		"http_data_endpoint": schema.StringAttribute{
			Optional:    true,
			Description: "Where the model server's inference HTTP API listens: `port:<n>` or `unix:<path>` (`spec.httpDataEndpoint`).",
			Validators:  []validator.String{endpoint()},
		},
		"replicas": schema.Int64Attribute{
			Optional:    true,
			Description: "Pods of this runtime; ModelMesh's own default when unset (`spec.replicas`).",
			Validators:  []validator.Int64{int64validator.AtLeast(0)},
		},
		"storage_helper_disabled": schema.BoolAttribute{
			Optional:    true,
			Description: "Turn off the storage helper that pulls models into the pod (`spec.storageHelper.disabled`).",
		},
		"built_in_adapter": schema.SingleNestedAttribute{
			Optional: true,
			Computed: true,
			Description: "ModelMesh's built-in adapter for a known model server (`spec.builtInAdapter`). With `mlserver`, the " +
				"preset fills the attributes left unset.",
			Attributes: map[string]schema.Attribute{
				"server_type": schema.StringAttribute{Optional: true, Computed: true,
					Description: "Model server: `mlserver`, `triton`, `ovms` or `torchserve` in practice." + presetComputed,
					Validators:  []validator.String{stringvalidator.LengthAtLeast(1)}},
				"runtime_management_port": adapterInt("Port of the model server's management API.", int64validator.Between(1, 65535)),
				"mem_buffer_bytes":        adapterInt("Memory reserved in the container beyond the models' size.", int64validator.AtLeast(0)),
				"model_loading_timeout_millis": adapterInt("How long a model load may take, in milliseconds.",
					int64validator.AtLeast(1)),
				"env": envAttribute("Environment variables of the adapter container."),
			},
		},
		"containers": schema.ListNestedAttribute{
			Optional: true,
			Computed: true,
			Description: "Containers of the runtime (`spec.containers`); every field the upstream MLServer, Triton, OVMS and " +
				"TorchServe runtimes use. Exactly one of `containers` and `mlserver`; with `mlserver`, this shows the " +
				"container the preset expands to.",
			Validators:   []validator.List{uniqueNames, listvalidator.SizeAtLeast(1)},
			NestedObject: schema.NestedAttributeObject{Attributes: containerAttributes()},
		},
		"mlserver": schema.SingleNestedAttribute{
			Optional: true,
			Description: "MLServer preset, instead of `containers`: one container named `mlserver` with the environment " +
				"ModelMesh needs (`MLSERVER_MODELS_DIR=/models/_mlserver_models/`, `MLSERVER_GRPC_PORT=8001`, " +
				"`MLSERVER_HTTP_PORT=8002`, `MLSERVER_LOAD_MODELS_AT_STARTUP=false`, `MLSERVER_MODEL_NAME=dummy-model-fixme`, " +
				"`MLSERVER_HOST=127.0.0.1`, `MLSERVER_GRPC_MAX_MESSAGE_LENGTH=-1`) and upstream's requests and limits unless " +
				"`resources` is set; and unless set otherwise " +
				"`grpc_endpoint = \"port:8085\"`, `grpc_data_endpoint = \"port:8001\"`, `multi_model = true`, " +
				"`protocol_versions = [\"grpc-v2\"]` and `built_in_adapter` `{ server_type = \"mlserver\", " +
				"runtime_management_port = 8001, mem_buffer_bytes = 134217728, model_loading_timeout_millis = 90000 }`, " +
				"as in upstream `mlserver-1.x`. The expansion shows in `containers` at plan time.",
			Attributes: map[string]schema.Attribute{
				"image": schema.StringAttribute{Required: true, Description: "MLServer image, e.g. `seldonio/mlserver:1.3.2`.",
					Validators: []validator.String{stringvalidator.LengthAtLeast(1)}},
				"implementation": schema.StringAttribute{Optional: true,
					Description: "Python class serving the models, as `module.Class` (`MLSERVER_MODEL_IMPLEMENTATION`), e.g. " +
						"`custom_model.CustomMLModel`.",
					Validators: []validator.String{stringvalidator.RegexMatches(
						regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$`), "must be module.Class")}},
				"debug": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false),
					Description: "Debug logging in a single worker process (`MLSERVER_DEBUG=true`, `MLSERVER_MODEL_PARALLEL_WORKERS=0`)."},
				"resources": mlserverResourcesAttribute(),
				"env":       envAttribute("Extra environment variables, after the preset's.", notPresetEnv()),
			},
		},
		"volumes": schema.ListNestedAttribute{
			Optional:    true,
			Description: "Pod volumes (`spec.volumes`), each with at most one source; with none, an empty directory.",
			Validators:  []validator.List{uniqueNames},
			NestedObject: schema.NestedAttributeObject{
				Attributes: volumeAttributes(),
				Validators: []validator.Object{attributesOneOf{names: []string{"empty_dir", "secret", "config_map", "persistent_volume_claim"}}},
			},
		},
		"node_selector": stringMap("Schedule only onto nodes with these labels (`spec.nodeSelector`). Only the keys set here "+
			"are managed.", labelMap()),
		"tolerations": schema.ListNestedAttribute{
			Optional:    true,
			Description: "Taints the runtime's pods tolerate (`spec.tolerations`).",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"key": schema.StringAttribute{Optional: true, Description: "Taint key; empty with `Exists` matches all."},
				"operator": schema.StringAttribute{Optional: true, Description: "`Equal` (default) or `Exists`.",
					Validators: []validator.String{stringvalidator.OneOf("Equal", "Exists")}},
				"value": schema.StringAttribute{Optional: true, Description: "Taint value, with `Equal`."},
				"effect": schema.StringAttribute{Optional: true, Description: "`NoSchedule`, `PreferNoSchedule` or `NoExecute`; all when unset.",
					Validators: []validator.String{stringvalidator.OneOf("NoSchedule", "PreferNoSchedule", "NoExecute")}},
				"toleration_seconds": schema.Int64Attribute{Optional: true,
					Description: "With `NoExecute`, how long the pod stays once tainted."},
			}},
		},
		"affinity": schema.StringAttribute{
			Optional:   true,
			CustomType: jsonObjectType{},
			Description: "Pod affinity (`spec.affinity`) as JSON in Kubernetes' own field names, e.g. " +
				"`jsonencode({ nodeAffinity = { ... } })`: the Kubernetes Affinity type is too deep to be worth a typed schema. " +
				"Formatting and key order are not changes.",
			Validators: []validator.String{jsonObjectString()},
		},
		"image_pull_secrets": schema.ListAttribute{
			Optional:    true,
			ElementType: types.StringType,
			Description: "Names of Secrets in the namespace holding registry credentials (`spec.imagePullSecrets`).",
			Validators:  []validator.List{listvalidator.ValueStringsAre(dnsSubdomain())},
		},
		"pod_labels": stringMap("Labels added to the runtime's pods (`spec.labels`). Only the keys set here are managed.", labelMap()),
		"pod_annotations": stringMap("Annotations added to the runtime's pods (`spec.annotations`). Only the keys set here "+
			"are managed.", annotationMap()),
		"spec_overrides_json": schema.StringAttribute{
			Optional:   true,
			CustomType: jsonObjectType{},
			Description: "Escape hatch: a JSON object merged into `spec` for fields this schema lacks, e.g. " +
				"`jsonencode({ containers = [{ name = \"mlserver\", securityContext = { runAsNonRoot = true } }] })`. " +
				"Objects merge; list items with a `name` (containers, env, volumes, formats) merge into the typed item of that " +
				"name, which must exist. Setting a field a typed attribute covers is an error. Changes made by others to " +
				"the fields given here show as drift.",
			Validators: []validator.String{jsonObjectString()},
		},
		"force_conflicts": schema.BoolAttribute{
			Optional: true,
			Computed: true,
			Default:  booldefault.StaticBool(false),
			Description: "Take over fields another field manager (kubectl, a controller) owns instead of failing with a " +
				"conflict. Off by default.",
		},
	}
}

// mlserverResourcesAttribute is the preset's resources, upstream mlserver-1.x's unless set.
func mlserverResourcesAttribute() schema.SingleNestedAttribute {
	a := resourcesAttribute("Compute resources of the MLServer container. Unset, upstream `mlserver-1.x`'s: requests " +
		"`{ cpu = \"500m\", memory = \"1Gi\" }`, limits `{ cpu = \"5\", memory = \"1Gi\" }`. Setting it replaces them " +
		"whole (`resources = {}` for none).")
	a.Computed = true
	a.Default = objectdefault.StaticValue(mlserverResourcesDefault(schemaType[types.ObjectType](a.GetType())))
	return a
}

func runtimeSchema(ctx context.Context, kind kube.Kind) schema.Schema {
	attrs := withTypes(runtimeAttributes())
	description := "A KServe ClusterServingRuntime (`serving.kserve.io/v1alpha1`): a model server usable by ModelMesh " +
		"from every namespace."
	if kind.Namespaced {
		attrs["namespace"] = namespaceAttribute("ServingRuntime", "replaces the runtime")
		description = "A KServe ServingRuntime (`serving.kserve.io/v1alpha1`): a model server ModelMesh can load models " +
			"into, in one namespace."
	}
	return schema.Schema{
		Description: description + " Applied with server-side apply: only the fields set here are managed, and " +
			"changes others make to them show as drift. Give either `containers` or the `mlserver` preset.",
		Attributes: attrs,
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

// withTypes gives every nested attribute its type, the one the framework would derive. Left to
// itself, the framework derives a nested attribute's type from its attributes, recursively, each
// time it resolves a path through it, which it does for every value of every state, plan and config
// it converts: with the runtime's containers, env and probes that was half of every RPC's CPU time.
func withTypes(attrs map[string]schema.Attribute) map[string]schema.Attribute {
	objectType := func(attrs map[string]schema.Attribute) types.ObjectType {
		t := types.ObjectType{AttrTypes: make(map[string]attr.Type, len(attrs))}
		for name, a := range attrs {
			t.AttrTypes[name] = a.GetType()
		}
		return t
	}
	out := make(map[string]schema.Attribute, len(attrs))
	for name, a := range attrs {
		switch a := a.(type) {
		case schema.SingleNestedAttribute:
			a.Attributes = withTypes(a.Attributes)
			a.CustomType = objectType(a.Attributes)
			out[name] = a
		case schema.ListNestedAttribute:
			a.NestedObject.Attributes = withTypes(a.NestedObject.Attributes)
			a.NestedObject.CustomType = objectType(a.NestedObject.Attributes)
			a.CustomType = types.ListType{ElemType: a.NestedObject.CustomType}
			out[name] = a
		default:
			out[name] = a
		}
	}
	return out
}
