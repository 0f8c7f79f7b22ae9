package provider

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// multiModelNeedsGRPCEndpoint refuses a multi-model runtime without grpc_endpoint. The ModelMesh
// controller (kserve/modelmesh-serving v0.12.0) reads spec.grpcEndpoint through a nil pointer while
// it builds the runtime's Deployment (controllers/modelmesh/puller.go, addPullerSidecar) and crashes,
// again at each restart while the runtime exists, which stops model serving in every namespace it
// manages. The mlserver preset fills the endpoint itself.
type multiModelNeedsGRPCEndpoint struct{}

var _ resource.ConfigValidator = multiModelNeedsGRPCEndpoint{}

func (multiModelNeedsGRPCEndpoint) Description(context.Context) string {
	return "grpc_endpoint must be set when multi_model is true, unless the mlserver preset is used"
}

func (v multiModelNeedsGRPCEndpoint) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (multiModelNeedsGRPCEndpoint) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var multiModel types.Bool
	var endpoint types.String
	var preset types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("multi_model"), &multiModel)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("grpc_endpoint"), &endpoint)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("mlserver"), &preset)...)
	if resp.Diagnostics.HasError() || !multiModel.ValueBool() || !endpoint.IsNull() || !preset.IsNull() {
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root("grpc_endpoint"), "Missing grpc_endpoint for a multi-model runtime",
		`A runtime with multi_model = true needs grpc_endpoint: where the model server's management gRPC API listens, `+
			`e.g. "port:8085" as in ModelMesh's built-in runtimes (and grpc_data_endpoint, e.g. "port:8001", for inference). `+
			`Without it the ModelMesh controller crashes while it deploys the runtime, and keeps crashing while the runtime `+
			`exists, which stops model serving in every namespace it manages.`)
}

// modelMeshRuntimeRules are the checks the ModelMesh controller makes before it deploys a runtime
// (kserve/modelmesh-serving v0.12.0 controllers/servingruntime_validator.go). A runtime that fails
// them is never deployed, and the controller says why only in its own log; its models then wait
// for a runtime Pod forever. Checked here, at plan, they name the attribute to change.
type modelMeshRuntimeRules struct{}

var _ resource.ConfigValidator = modelMeshRuntimeRules{}

// reservedContainerNames are the containers the controller adds to every runtime Pod
// (internalContainerNames); "mm-" is reserved as a prefix too (checkName).
var reservedContainerNames = []string{"mm", "rest-proxy", "puller"}

func (modelMeshRuntimeRules) Description(context.Context) string {
	return "the runtime must pass the ModelMesh controller's checks: a container named after the built-in adapter's server type, " +
		"no readiness probe, no container name the controller reserves"
}

func (v modelMeshRuntimeRules) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (modelMeshRuntimeRules) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var containers types.List
	var adapter types.Object
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("containers"), &containers)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("built_in_adapter"), &adapter)...)
	if resp.Diagnostics.HasError() || containers.IsNull() || containers.IsUnknown() {
		return // the mlserver preset builds a container that passes
	}
	names := map[string]bool{}
	allKnown := true
	for i, e := range containers.Elements() {
		c, ok := e.(types.Object)
		if !ok || c.IsNull() || c.IsUnknown() {
			allKnown = false
			continue
		}
		at := path.Root("containers").AtListIndex(i)
		name, _ := c.Attributes()["name"].(types.String)
		allKnown = allKnown && !name.IsUnknown()
		names[name.ValueString()] = true
		if slices.Contains(reservedContainerNames, name.ValueString()) || strings.HasPrefix(name.ValueString(), "mm-") {
			resp.Diagnostics.AddAttributeError(at.AtName("name"), "Container name reserved by ModelMesh",
				fmt.Sprintf("The ModelMesh controller adds containers %s to every runtime Pod and reserves the prefix \"mm-\"; "+
					"it does not deploy a runtime with a container named %q. Choose another name.",
					strings.Join(reservedContainerNames, ", "), name.ValueString()))
		}
		if probe, _ := c.Attributes()["readiness_probe"].(types.Object); !probe.IsNull() && !probe.IsUnknown() {
			resp.Diagnostics.AddAttributeError(at.AtName("readiness_probe"), "Readiness probe managed by ModelMesh",
				"ModelMesh manages the readiness of runtime Pods itself, and its controller does not deploy a runtime "+
					"whose containers set a readiness probe. Remove readiness_probe (a liveness_probe is allowed).")
		}
	}
	if adapter.IsNull() || adapter.IsUnknown() || !allKnown {
		return
	}
	serverType, _ := adapter.Attributes()["server_type"].(types.String)
	if serverType.IsNull() || serverType.IsUnknown() || names[serverType.ValueString()] {
		return
	}
	resp.Diagnostics.AddAttributeError(path.Root("built_in_adapter").AtName("server_type"), "No container for the built-in adapter",
		fmt.Sprintf("With built_in_adapter.server_type = %q the ModelMesh controller needs a container named %q, the model "+
			"server the adapter talks to, and deploys the runtime only then. Name the model server's container %q.",
			serverType.ValueString(), serverType.ValueString(), serverType.ValueString()))
}

// autoscalerAnnotations checks a runtime's autoscaler annotations and replicas as the ModelMesh
// controller's ServingRuntime webhook does (apis/serving/v1alpha1/servingruntime_webhook.go,
// modelmesh-serving v0.12.0), which refuses the apply otherwise, for multi-model runtimes only.
type autoscalerAnnotations struct{}

var _ resource.ConfigValidator = autoscalerAnnotations{}

// The annotation keys the webhook reads (kserve pkg/constants; modelmesh-serving pkg/constants for
// the scale bounds).
const (
	autoscalerClassAnnotation   = "serving.kserve.io/autoscalerClass"
	autoscalerMetricsAnnotation = "serving.kserve.io/metrics"
	targetUtilizationAnnotation = "serving.kserve.io/targetUtilizationPercentage"
	minScaleAnnotation          = "serving.kserve.io/min-scale"
	maxScaleAnnotation          = "serving.kserve.io/max-scale"
	autoscalerClassHPA          = "hpa"
	webhookRefusal              = "Refused by the ModelMesh controller's webhook"
)

func (autoscalerAnnotations) Description(context.Context) string {
	return "autoscaler annotations must pass the ModelMesh controller's ServingRuntime webhook: class hpa, metric cpu or " +
		"memory, a target utilization of 1-100, min-scale ≤ max-scale, and no replicas beside an autoscaler"
}

func (v autoscalerAnnotations) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (autoscalerAnnotations) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var annotations types.Map
	var replicas types.Int64
	var multiModel types.Bool
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("annotations"), &annotations)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("replicas"), &replicas)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("multi_model"), &multiModel)...)
	if resp.Diagnostics.HasError() || annotations.IsNull() || annotations.IsUnknown() || (!multiModel.IsNull() && !multiModel.IsUnknown() && !multiModel.ValueBool()) {
		return // the webhook validates multi-model runtimes only
	}
	known := map[string]string{}
	for key, value := range annotations.Elements() {
		if s, ok := value.(types.String); ok && !s.IsNull() && !s.IsUnknown() {
			known[key] = s.ValueString()
		}
	}
	refuse := func(key, detail string) {
		resp.Diagnostics.AddAttributeError(path.Root("annotations").AtMapKey(key), webhookRefusal, detail)
	}
	class, hasClass := known[autoscalerClassAnnotation]
	if hasClass && class != autoscalerClassHPA {
		refuse(autoscalerClassAnnotation, fmt.Sprintf("ModelMesh scales runtimes with the autoscaler class %q only, not %q.", autoscalerClassHPA, class))
		return
	}
	if value, ok := known[targetUtilizationAnnotation]; ok {
		if n, err := strconv.Atoi(value); err != nil || n < 1 || n > 100 {
			refuse(targetUtilizationAnnotation, fmt.Sprintf("The target utilization must be an integer from 1 to 100, not %q.", value))
		}
	}
	if !hasClass {
		return
	}
	if metric, ok := known[autoscalerMetricsAnnotation]; ok && metric != "cpu" && metric != "memory" {
		refuse(autoscalerMetricsAnnotation, fmt.Sprintf("The autoscaler scales on \"cpu\" or \"memory\", not %q.", metric))
	}
	if !replicas.IsNull() && !replicas.IsUnknown() {
		resp.Diagnostics.AddAttributeError(path.Root("replicas"), webhookRefusal,
			fmt.Sprintf("With the annotation %s = %q the autoscaler sets the number of Pods: remove replicas, and bound it "+
				"with the annotations %s and %s instead.", autoscalerClassAnnotation, class, minScaleAnnotation, maxScaleAnnotation))
	}
	// A max-scale below 1 is below every min-scale: refused either way.
	bound := func(key string) (int, bool) {
		value, ok := known[key]
		if !ok {
			return 1, true // the webhook's default for both bounds
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			refuse(key, fmt.Sprintf("Must be an integer of at least 1, not %q.", value))
			return 0, false
		}
		return n, true
	}
	least, minOK := bound(minScaleAnnotation)
	most, maxOK := bound(maxScaleAnnotation)
	if minOK && maxOK && least > most {
		refuse(maxScaleAnnotation, fmt.Sprintf("max-scale (%d, 1 when unset) must be at least min-scale (%d).", most, least))
	}
}
