package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

var (
	_ datasource.DataSource              = &inferenceServiceDataSource{}
	_ datasource.DataSourceWithConfigure = &inferenceServiceDataSource{}
)

// NewInferenceServiceDataSource returns the asm_inference_service data source.
func NewInferenceServiceDataSource() datasource.DataSource { return &inferenceServiceDataSource{} }

type inferenceServiceDataSource struct {
	configuredDataSource
}

// inferenceServiceDataSourceModel is the resource's model without what only managing the object needs.
type inferenceServiceDataSourceModel struct {
	ID                 types.String `tfsdk:"id"`
	Name               types.String `tfsdk:"name"`
	Namespace          types.String `tfsdk:"namespace"`
	Labels             types.Map    `tfsdk:"labels"`
	Annotations        types.Map    `tfsdk:"annotations"`
	ModelFormat        types.Object `tfsdk:"model_format"`
	Runtime            types.String `tfsdk:"runtime"`
	Storage            types.Object `tfsdk:"storage"`
	StorageURI         types.String `tfsdk:"storage_uri"`
	ProtocolVersion    types.String `tfsdk:"protocol_version"`
	ServiceAccountName types.String `tfsdk:"service_account_name"`
	inferenceServiceStatus
}

func (d *inferenceServiceDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_inference_service"
}

func (d *inferenceServiceDataSource) Schema(ctx context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := computedAttributes(resourceSchema(ctx, NewInferenceServiceResource()), map[string]string{
		"labels":      "Labels of the InferenceService.",
		"annotations": "Annotations of the InferenceService, but `" + deploymentModeAnnotation + ": " + deploymentModeModelMesh + "`.",
		"runtime":     "Name of the ServingRuntime or ClusterServingRuntime serving the model (`spec.predictor.model.runtime`); null when ModelMesh picks one.",
		"storage_uri": "URI of the model (`spec.predictor.model.storageUri`).",
		"protocol_version": "Inference protocol the model is served with (`spec.predictor.model.protocolVersion`): " +
			"`v1`, `v2`, `grpc-v1` or `grpc-v2`.",
		"service_account_name": "Service account of the predictor (`spec.predictor.serviceAccountName`), which ModelMesh ignores.",
		"model_format":         "Format of the model (`spec.predictor.model.modelFormat`).",
		"storage":              "Where the model is stored (`spec.predictor.model.storage`).",
	}, "labels", "annotations", "model_format", "runtime", "storage", "storage_uri", "protocol_version", "service_account_name",
		"ready", "url", "grpc_url", "rest_url", "active_model_state", "target_model_state", "transition_status",
		"total_copies", "failed_copies", "last_failure_reason", "last_failure_message")
	attrs["id"] = schema.StringAttribute{Computed: true, Description: "`<namespace>/<name>`."}
	attrs["name"] = nameAttribute("InferenceService", dnsSubdomain())
	attrs["namespace"] = namespaceArgument("InferenceService")
	resp.Schema = schema.Schema{
		Description: "Reads a KServe `InferenceService` that already exists, whoever created it (another team, " +
			"another state, `kubectl`), with one request: its model spec, and the status ModelMesh reports (readiness, " +
			"model states, copies, the last failure, URLs), e.g. to send requests to another team's model. A missing " +
			"InferenceService is an error.",
		Attributes: attrs,
	}
}

func (d *inferenceServiceDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var config inferenceServiceDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	namespace := d.objectNamespace(config.Namespace)
	ref := kube.Ref{Kind: kube.InferenceService, Namespace: namespace.ValueString(), Name: config.Name.ValueString()}
	obj := d.readNamed(ctx, ref, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	var m inferenceServiceModel
	resp.Diagnostics.Append(nullModel(ctx, resourceSchema(ctx, NewInferenceServiceResource()), &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// No field is the provider's own here, so the resource's mapping reads them all.
	if err := (&inferenceServiceResource{}).readObject(ctx, &m, obj, kube.OwnedFields{}); err != nil {
		resp.Diagnostics.AddError("Reading "+ref.String()+" failed", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &inferenceServiceDataSourceModel{
		ID: types.StringValue(kubeID(ref)), Name: config.Name, Namespace: namespace,
		Labels: m.Labels, Annotations: m.Annotations, ModelFormat: m.ModelFormat, Runtime: m.Runtime, Storage: m.Storage,
		StorageURI: m.StorageURI, ProtocolVersion: m.ProtocolVersion, ServiceAccountName: m.ServiceAccountName,
		inferenceServiceStatus: m.inferenceServiceStatus,
	})...)
}
