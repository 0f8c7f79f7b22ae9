package provider

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Schema pieces of the runtime resources for containers and volumes, and their validators.

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
		Validators:  []validator.List{uniqueNames},
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
