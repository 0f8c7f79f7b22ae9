package provider

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
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

// endpointPattern is the ServingRuntime endpoint syntax.
var endpointPattern = regexp.MustCompile(`^(port:[0-9]+|unix:.+)$`)

func endpoint() validator.String {
	return stringCheck{"must be `port:<1-65535>` or `unix:<path>`", func(s string) []string {
		if !endpointPattern.MatchString(s) {
			return []string{"unknown form"}
		}
		if port, ok := strings.CutPrefix(s, "port:"); ok {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return []string{"port out of range"}
			}
		}
		return nil
	}}
}

// notPresetEnv rejects, in the preset's env, variables the preset itself sets.
func notPresetEnv() validator.String {
	return stringCheck{"must not be a variable the mlserver preset sets (use `containers` to control it)", func(s string) []string {
		if isMLServerEnv(s) {
			return []string{s + " is set by the preset"}
		}
		return nil
	}}
}

func envAttribute(description string, extra ...validator.String) schema.ListNestedAttribute {
	keyRef := func(what string) schema.SingleNestedAttribute {
		return schema.SingleNestedAttribute{
			Optional:    true,
			Description: "A key of a " + what + " in the pod's namespace.",
			Attributes: map[string]schema.Attribute{
				"name": schema.StringAttribute{Required: true, Description: "Name of the " + what + ".",
					Validators: []validator.String{dnsSubdomain()}},
				"key":      schema.StringAttribute{Required: true, Description: "Key in the " + what + "."},
				"optional": schema.BoolAttribute{Optional: true, Description: "Start the container even if the " + what + " or key is missing."},
			},
		}
	}
	return schema.ListNestedAttribute{
		Optional:    true,
		Description: description,
		Validators:  []validator.List{uniqueNames{}},
		NestedObject: schema.NestedAttributeObject{
			Attributes: map[string]schema.Attribute{
				"name": schema.StringAttribute{Required: true, Description: "Variable name.",
					Validators: append([]validator.String{envVarName()}, extra...)},
				"value": schema.StringAttribute{Optional: true, Description: "Literal value. Conflicts with `value_from`.",
					Validators: []validator.String{stringvalidator.ConflictsWith(path.MatchRelative().AtParent().AtName("value_from"))}},
				"value_from": schema.SingleNestedAttribute{
					Optional:    true,
					Description: "Take the value from a Secret, a ConfigMap or a pod field; exactly one of them.",
					Validators:  []validator.Object{attributesOneOf{exactly: true, names: []string{"secret_key_ref", "config_map_key_ref", "field_ref"}}},
					Attributes: map[string]schema.Attribute{
						"secret_key_ref":     keyRef("Secret"),
						"config_map_key_ref": keyRef("ConfigMap"),
						"field_ref": schema.SingleNestedAttribute{
							Optional:    true,
							Description: "A field of the pod, e.g. `metadata.name` or `status.podIP`.",
							Attributes: map[string]schema.Attribute{
								"field_path":  schema.StringAttribute{Required: true, Description: "Path of the field."},
								"api_version": schema.StringAttribute{Optional: true, Description: "API version the path is in, `v1` by default."},
							},
						},
					},
				},
			},
		},
	}
}

func resourcesAttribute(description string) schema.SingleNestedAttribute {
	quantities := func(what string) schema.MapAttribute {
		return schema.MapAttribute{
			Optional:    true,
			ElementType: quantityType{},
			Description: what + ", by resource name (`cpu`, `memory`, `nvidia.com/gpu`...), as Kubernetes quantities " +
				"(`500m`, `2`, `1Gi`). Equal amounts written differently (`1024Mi`, `1Gi`) are not a change.",
			Validators: []validator.Map{quantityMap()},
		}
	}
	return schema.SingleNestedAttribute{
		Optional:    true,
		Description: description,
		Attributes: map[string]schema.Attribute{
			"requests": quantities("Amounts the scheduler reserves"),
			"limits":   quantities("Upper bounds enforced at run time"),
		},
	}
}

func probeAttribute(description string) schema.SingleNestedAttribute {
	seconds := func(what string, least int64) schema.Int64Attribute {
		return schema.Int64Attribute{Optional: true, Description: what, Validators: []validator.Int64{int64validator.AtLeast(least)}}
	}
	port := schema.StringAttribute{
		Required:    true,
		CustomType:  intOrStringType{},
		Description: "Port number, or the name of a port of the container.",
		Validators:  []validator.String{portNumberOrName()},
	}
	return schema.SingleNestedAttribute{
		Optional:    true,
		Description: description + " Exactly one of `exec`, `http_get`, `tcp_socket`.",
		Validators:  []validator.Object{attributesOneOf{exactly: true, names: []string{"exec", "http_get", "tcp_socket"}}},
		Attributes: map[string]schema.Attribute{
			"exec": schema.SingleNestedAttribute{
				Optional:    true,
				Description: "Run a command in the container; exit status 0 is healthy.",
				Attributes: map[string]schema.Attribute{
					"command": schema.ListAttribute{Required: true, ElementType: types.StringType,
						Description: "Command and arguments, run without a shell.",
						Validators:  []validator.List{listvalidator.SizeAtLeast(1)}},
				},
			},
			"http_get": schema.SingleNestedAttribute{
				Optional:    true,
				Description: "HTTP GET; a status from 200 to 399 is healthy.",
				Attributes: map[string]schema.Attribute{
					"path": schema.StringAttribute{Optional: true, Description: "Request path."},
					"port": port,
					"host": schema.StringAttribute{Optional: true, Description: "Host to connect to; the pod IP by default."},
					"scheme": schema.StringAttribute{Optional: true, Description: "`HTTP` (default) or `HTTPS`.",
						Validators: []validator.String{stringvalidator.OneOf("HTTP", "HTTPS")}},
					"http_headers": schema.ListNestedAttribute{
						Optional:    true,
						Description: "Extra request headers.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"name":  schema.StringAttribute{Required: true, Description: "Header name."},
							"value": schema.StringAttribute{Required: true, Description: "Header value."},
						}},
					},
				},
			},
			"tcp_socket": schema.SingleNestedAttribute{
				Optional:    true,
				Description: "Open a TCP connection; success is healthy.",
				Attributes: map[string]schema.Attribute{
					"port": port,
					"host": schema.StringAttribute{Optional: true, Description: "Host to connect to; the pod IP by default."},
				},
			},
			"initial_delay_seconds": seconds("Seconds after the container starts before the first probe.", 0),
			"period_seconds":        seconds("Seconds between probes.", 1),
			"timeout_seconds":       seconds("Seconds after which a probe times out.", 1),
			"success_threshold":     seconds("Consecutive successes to count as healthy after a failure.", 1),
			"failure_threshold":     seconds("Consecutive failures to count as unhealthy.", 1),
		},
	}
}

func containerAttributes() map[string]schema.Attribute {
	stringList := func(description string) schema.ListAttribute {
		return schema.ListAttribute{Optional: true, ElementType: types.StringType, Description: description}
	}
	return map[string]schema.Attribute{
		"name": schema.StringAttribute{Required: true, Description: "Container name, unique in the runtime.",
			Validators: []validator.String{dnsLabel()}},
		"image": schema.StringAttribute{Required: true, Description: "Container image.",
			Validators: []validator.String{stringvalidator.LengthAtLeast(1)}},
		"image_pull_policy": schema.StringAttribute{Optional: true, Description: "`Always`, `IfNotPresent` or `Never`.",
			Validators: []validator.String{stringvalidator.OneOf("Always", "IfNotPresent", "Never")}},
		"command":     stringList("Entrypoint, replacing the image's."),
		"args":        stringList("Arguments to the entrypoint."),
		"working_dir": schema.StringAttribute{Optional: true, Description: "Working directory."},
		"env":         envAttribute("Environment variables, in order."),
		"ports": schema.ListNestedAttribute{
			Optional:    true,
			Description: "Ports the container exposes.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"container_port": schema.Int64Attribute{Required: true, Description: "Port number.",
					Validators: []validator.Int64{int64validator.Between(1, 65535)}},
				"name": schema.StringAttribute{Optional: true, Description: "Port name, referable from probes.",
					Validators: []validator.String{portName()}},
				"protocol": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString("TCP"),
					Description: "`TCP` (default), `UDP` or `SCTP`.",
					Validators:  []validator.String{stringvalidator.OneOf("TCP", "UDP", "SCTP")}},
			}},
		},
		"resources": resourcesAttribute("Compute resources of the container."),
		"volume_mounts": schema.ListNestedAttribute{
			Optional:    true,
			Description: "Volumes (from `volumes`, or ModelMesh's own) mounted into the container.",
			NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
				"name":       schema.StringAttribute{Required: true, Description: "Volume name."},
				"mount_path": schema.StringAttribute{Required: true, Description: "Path in the container."},
				"read_only":  schema.BoolAttribute{Optional: true, Description: "Mount read-only."},
				"sub_path":   schema.StringAttribute{Optional: true, Description: "Path inside the volume to mount instead of its root."},
			}},
		},
		"liveness_probe":  probeAttribute("Restart the container when this fails."),
		"readiness_probe": probeAttribute("Take the pod out of service while this fails."),
		"startup_probe":   probeAttribute("Hold the other probes until this succeeds once."),
	}
}

func volumeAttributes() map[string]schema.Attribute {
	items := schema.ListNestedAttribute{
		Optional:    true,
		Description: "Project only these keys, to these paths; all keys by default.",
		NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
			"key":  schema.StringAttribute{Required: true, Description: "Key."},
			"path": schema.StringAttribute{Required: true, Description: "Relative file path."},
			"mode": schema.Int64Attribute{Optional: true, Description: "File mode, e.g. `0440` written as `288`.",
				Validators: []validator.Int64{int64validator.Between(0, 0o777)}},
		}},
	}
	mode := schema.Int64Attribute{Optional: true, Description: "Mode of the files, e.g. `0644` written as `420`.",
		Validators: []validator.Int64{int64validator.Between(0, 0o777)}}
	optional := schema.BoolAttribute{Optional: true, Description: "Start the pod even if the object is missing."}
	return map[string]schema.Attribute{
		"name": schema.StringAttribute{Required: true, Description: "Volume name, referred to by `volume_mounts`.",
			Validators: []validator.String{dnsLabel()}},
		"empty_dir": schema.SingleNestedAttribute{
			Optional:    true,
			Description: "A scratch directory living as long as the pod.",
			Attributes: map[string]schema.Attribute{
				"medium": schema.StringAttribute{Optional: true, Description: "`Memory` for a tmpfs; node storage by default.",
					Validators: []validator.String{stringvalidator.OneOf("", "Memory", "HugePages")}},
				"size_limit": schema.StringAttribute{Optional: true, CustomType: quantityType{},
					Description: "Size limit as a quantity, e.g. `1Gi`.", Validators: []validator.String{quantity()}},
			},
		},
		"secret": schema.SingleNestedAttribute{
			Optional:    true,
			Description: "The keys of a Secret as files.",
			Attributes: map[string]schema.Attribute{
				"secret_name": schema.StringAttribute{Required: true, Description: "Secret name.",
					Validators: []validator.String{dnsSubdomain()}},
				"default_mode": mode,
				"optional":     optional,
				"items":        items,
			},
		},
		"config_map": schema.SingleNestedAttribute{
			Optional:    true,
			Description: "The keys of a ConfigMap as files.",
			Attributes: map[string]schema.Attribute{
				"name": schema.StringAttribute{Required: true, Description: "ConfigMap name.",
					Validators: []validator.String{dnsSubdomain()}},
				"default_mode": mode,
				"optional":     optional,
				"items":        items,
			},
		},
		"persistent_volume_claim": schema.SingleNestedAttribute{
			Optional:    true,
			Description: "A PersistentVolumeClaim in the pod's namespace.",
			Attributes: map[string]schema.Attribute{
				"claim_name": schema.StringAttribute{Required: true, Description: "Claim name.",
					Validators: []validator.String{dnsSubdomain()}},
				"read_only": schema.BoolAttribute{Optional: true, Description: "Mount read-only."},
			},
		},
	}
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
			Description: "Model formats the runtime serves (`spec.supportedModelFormats`).",
			Validators:  []validator.List{uniqueNames{}},
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
			Validators:   []validator.List{uniqueNames{}, listvalidator.SizeAtLeast(1)},
			NestedObject: schema.NestedAttributeObject{Attributes: containerAttributes()},
		},
		"mlserver": schema.SingleNestedAttribute{
			Optional: true,
			Description: "MLServer preset, instead of `containers`: one container named `mlserver` with the environment " +
				"ModelMesh needs (`MLSERVER_MODELS_DIR=/models/_mlserver_models/`, `MLSERVER_GRPC_PORT=8001`, " +
				"`MLSERVER_HTTP_PORT=8002`, `MLSERVER_LOAD_MODELS_AT_STARTUP=false`, `MLSERVER_MODEL_NAME=dummy-model`, " +
				"`MLSERVER_HOST=127.0.0.1`, `MLSERVER_GRPC_MAX_MESSAGE_LENGTH=-1`), and unless set otherwise " +
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
				"resources": resourcesAttribute("Compute resources of the MLServer container."),
				"env":       envAttribute("Extra environment variables, after the preset's.", notPresetEnv()),
			},
		},
		"volumes": schema.ListNestedAttribute{
			Optional:    true,
			Description: "Pod volumes (`spec.volumes`), each with at most one source; with none, an empty directory.",
			Validators:  []validator.List{uniqueNames{}},
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

func runtimeSchema(ctx context.Context, kind kube.Kind) schema.Schema {
	attrs := withTypes(runtimeAttributes())
	description := "A KServe ClusterServingRuntime (`serving.kserve.io/v1alpha1`): a model server usable by ModelMesh " +
		"from every namespace."
	if kind.Namespaced {
		attrs["namespace"] = schema.StringAttribute{
			Optional:    true,
			Computed:    true,
			Description: "Namespace; defaults to the provider's `kubernetes.namespace`. Changing it replaces the runtime.",
			Validators:  []validator.String{dnsLabel()},
		}
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

// Types of the nested attributes, from the schema itself.
var (
	runtimeTypes = func() map[string]attr.Type {
		out := map[string]attr.Type{}
		for name, a := range runtimeAttributes() {
			out[name] = a.GetType()
		}
		return out
	}()
	containersType = schemaType[types.ListType](runtimeTypes["containers"])
	containerType  = schemaType[types.ObjectType](containersType.ElemType)
	mlserverType   = schemaType[types.ObjectType](runtimeTypes["mlserver"])
	adapterType    = schemaType[types.ObjectType](runtimeTypes["built_in_adapter"])
	envType        = schemaType[types.ListType](containerType.AttrTypes["env"]).ElemType
	volumeType     = schemaType[types.ListType](runtimeTypes["volumes"]).ElemType
	formatType     = schemaType[types.ListType](runtimeTypes["supported_model_formats"]).ElemType

	// specShape is the typed schema in the spec's own layout, telling spec_overrides_json which
	// fields typed attributes cover.
	specShape = types.ObjectType{AttrTypes: map[string]attr.Type{
		"supported_model_formats": runtimeTypes["supported_model_formats"],
		"multi_model":             types.BoolType,
		"disabled":                types.BoolType,
		"protocol_versions":       runtimeTypes["protocol_versions"],
		"grpc_endpoint":           types.StringType,
		"grpc_data_endpoint":      types.StringType,
		"http_data_endpoint":      types.StringType,
		"replicas":                types.Int64Type,
		"storage_helper":          types.ObjectType{AttrTypes: map[string]attr.Type{"disabled": types.BoolType}},
		"built_in_adapter":        adapterType,
		"containers":              containersType,
		"volumes":                 runtimeTypes["volumes"],
		"node_selector":           runtimeTypes["node_selector"],
		"tolerations":             runtimeTypes["tolerations"],
		"affinity":                jsonObjectType{},
		"image_pull_secrets":      runtimeTypes["image_pull_secrets"],
		"labels":                  runtimeTypes["pod_labels"],
		"annotations":             runtimeTypes["pod_annotations"],
	}}
)

// schemaType asserts the type of a schema attribute, a fact of the schema above.
func schemaType[T attr.Type](t attr.Type) T {
	out, ok := t.(T)
	if !ok {
		panic(fmt.Sprintf("schema type %s is not a %T", t, out))
	}
	return out
}

// keyedByName tells the lists whose items are identified by their unique name.
func keyedByName(t attr.Type) bool {
	if t == nil {
		return false
	}
	for _, keyed := range []attr.Type{containerType, envType, volumeType, formatType} {
		if t.Equal(keyed) {
			return true
		}
	}
	return false
}

// shapeField finds the type of a spec field in an object type of the typed schema.
func shapeField(t attr.Type, field string) (attr.Type, bool) {
	obj, ok := t.(types.ObjectType)
	if !ok {
		return nil, false
	}
	for name, at := range obj.AttrTypes {
		if kubeFieldName(name) == field {
			return at, true
		}
	}
	return nil, false
}
