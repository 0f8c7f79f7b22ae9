package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/helpers/validatordiag"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// Plan and validate time for the runtimes: the MLServer preset and defaults expanded offline, and
// the checks that span attributes (spec_overrides_json against the typed ones).

// planRuntime resolves the MLServer preset and the defaults, so that the plan shows the spec that
// will be applied. config is the configuration; plan is modified in place.
func planRuntime(ctx context.Context, plan *runtimeModel, config runtimeModel) diag.Diagnostics {
	var diags diag.Diagnostics
	// The preset as planned, with its defaults (resources, debug) filled in.
	preset := plan.MLServer
	if config.MultiModel.IsNull() {
		plan.MultiModel = presetDefault(ctx, preset, mlserverMultiModel)
	}
	if config.ProtocolVersions.IsNull() {
		plan.ProtocolVersions = presetDefault(ctx, preset, mlserverProtocolVersions)
	}
	if config.GRPCEndpoint.IsNull() {
		plan.GRPCEndpoint = presetDefault(ctx, preset, types.StringValue(mlserverGRPCEndpoint))
	}
	if config.GRPCDataEndpoint.IsNull() {
		plan.GRPCDataEndpoint = presetDefault(ctx, preset, types.StringValue(mlserverGRPCDataEndpoint))
	}

	switch adapter := config.BuiltInAdapter; {
	case adapter.IsNull():
		full := map[string]attr.Value{"env": nullValue(ctx, adapterType.AttrTypes["env"])}
		for name, v := range mlserverAdapter {
			full[name] = v
		}
		plan.BuiltInAdapter = presetDefault(ctx, preset, types.ObjectValueMust(adapterType.AttrTypes, full))
	case !adapter.IsUnknown():
		attrs := adapter.Attributes()
		for name, v := range mlserverAdapter {
			if attrs[name].IsNull() {
				attrs[name] = presetDefault(ctx, preset, v)
			}
		}
		plan.BuiltInAdapter = types.ObjectValueMust(adapterType.AttrTypes, attrs)
	}

	if config.Containers.IsNull() {
		switch {
		case preset.IsNull():
			plan.Containers = types.ListNull(containerType)
		case preset.IsUnknown():
			plan.Containers = types.ListUnknown(containerType)
		default:
			container, complete, err := expandMLServer(ctx, preset)
			if err != nil {
				diags.AddAttributeError(path.Root("mlserver"), "Invalid MLServer preset", err.Error())
				return diags
			}
			if !complete {
				plan.Containers = types.ListUnknown(containerType)
				break
			}
			list, err := valueFromJSON(ctx, []any{container}, containersType)
			containers, ok := list.(types.List)
			if err != nil || !ok {
				diags.AddAttributeError(path.Root("mlserver"), "Expanding the MLServer preset failed", fmt.Sprint(err))
				return diags
			}
			plan.Containers = containers
		}
	}
	return diags
}

// validateRuntimeConfig runs the checks that span attributes, on whatever is known.
func validateRuntimeConfig(ctx context.Context, config runtimeModel) diag.Diagnostics {
	var diags diag.Diagnostics
	overrides, err := config.SpecOverridesJSON.object()
	if err != nil || overrides == nil {
		return diags // not JSON: the attribute's validator reports it
	}
	spec, complete, err := expandRuntimeSpec(ctx, config)
	if err != nil {
		return diags // an invalid attribute, which its own validator reports
	}
	if config.Containers.IsNull() && !config.MLServer.IsNull() {
		// Of the preset's container, only its name matters to the overrides.
		spec["containers"] = []any{map[string]any{"name": mlserverContainer}}
		complete = complete && !config.MLServer.IsUnknown()
	}
	if err := mergeSpecOverrides(spec, overrides, !complete); err != nil {
		diags.Append(validatordiag.InvalidAttributeValueDiagnostic(path.Root("spec_overrides_json"),
			"must only set fields no typed attribute covers: "+err.Error(), config.SpecOverridesJSON.ValueString()))
	}
	return diags
}
