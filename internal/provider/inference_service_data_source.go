package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/datasource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// NewInferenceServiceDataSource returns the asm_inference_service data source.
func NewInferenceServiceDataSource() datasource.DataSource {
	return &objectDataSource{objectData: inferenceServiceObjectData()}
}

// inferenceServiceObjectData is the resource's model without what only managing the object needs, for
// asm_inference_service and asm_inference_services.
func inferenceServiceObjectData() objectData {
	d := newObjectData[inferenceServiceModel](newInferenceServiceResource(), kube.InferenceService, "_inference_service", map[string]string{
		"labels":      "Labels of the InferenceService.",
		"annotations": "Annotations of the InferenceService, but `" + deploymentModeAnnotation + ": " + deploymentModeModelMesh + "`.",
		"runtime":     "Name of the ServingRuntime or ClusterServingRuntime serving the model (`spec.predictor.model.runtime`); null when ModelMesh picks one.",
		"storage_uri": "URI of the model (`spec.predictor.model.storageUri`).",
		"protocol_version": "Inference protocol the model is served with (`spec.predictor.model.protocolVersion`): " +
			"`v1`, `v2`, `grpc-v1` or `grpc-v2`.",
		"service_account_name": "Service account of the predictor (`spec.predictor.serviceAccountName`), which ModelMesh ignores.",
		"model_format":         "Format of the model (`spec.predictor.model.modelFormat`).",
		"model_format.name":    "Format name, e.g. `sklearn` or a custom one such as `my-model`.",
		"storage":              "Where the model is stored (`spec.predictor.model.storage`).",
		"storage.path":         "Path of the model in the storage, e.g. `sklearn/mnist-svm.joblib`; null with `storage_uri`.",
	}, "labels", "annotations", "model_format", "runtime", "storage", "storage_uri", "protocol_version", "service_account_name",
		"ready", "url", "grpc_url", "rest_url", "active_model_state", "target_model_state", "transition_status",
		"total_copies", "failed_copies", "last_failure_reason", "last_failure_message")
	d.readDescription = "Reads a KServe `InferenceService` that already exists, whoever created it (another team, " +
		"another state, `kubectl`), with one request: its model spec, and the status ModelMesh reports (readiness, " +
		"model states, copies, the last failure, URLs), e.g. to send requests to another team's model. A missing " +
		"InferenceService is an error."
	d.listDescription = "Lists the KServe `InferenceService`s of a namespace, whoever created them, with one request, " +
		"optionally only those matching a label selector: each with the attributes of the `asm_inference_service` data " +
		"source (model spec, readiness, model states, copies, the last failure, URLs), e.g. to check that every model of " +
		"a team is loaded. None matching is an empty list."
	return d
}
