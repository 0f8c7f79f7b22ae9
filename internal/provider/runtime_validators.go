package provider

import (
	"context"

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
