package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/datasource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// NewServingRuntimeDataSource returns the asm_serving_runtime data source.
func NewServingRuntimeDataSource() datasource.DataSource {
	return &objectDataSource{objectData: runtimeObjectData(kube.ServingRuntime, "_serving_runtime")}
}

// runtimeObjectData is the spec summary of a ServingRuntime or ClusterServingRuntime, for the
// runtime data sources of both forms: what decides which models it serves and how, read with the
// runtime resources' own mapping.
func runtimeObjectData(kind kube.Kind, typeName string) objectData {
	const envValue = "Literal value; null with `value_from`."
	d := newObjectData[namespacedRuntimeModel](newRuntimeResource(kind, typeName), kind, typeName, map[string]string{
		"labels":      "Labels of the " + kind.Kind + ".",
		"annotations": "Annotations of the " + kind.Kind + ".",
		"multi_model": "Whether the runtime serves many models per pod, as ModelMesh requires (`spec.multiModel`).",
		"protocol_versions": "Inference protocols served: `grpc-v2`, `grpc-v1`, `v2`, `v1` " +
			"(`spec.protocolVersions`).",
		"grpc_endpoint":                                 "Where the model server's management gRPC API listens: `port:<n>` or `unix:<path>` (`spec.grpcEndpoint`).",
		"grpc_data_endpoint":                            "Where the model server's inference gRPC API listens: `port:<n>` or `unix:<path>` (`spec.grpcDataEndpoint`).",
		"built_in_adapter":                              "ModelMesh's built-in adapter for a known model server (`spec.builtInAdapter`); null for a custom adapter.",
		"built_in_adapter.server_type":                  "Model server: `mlserver`, `triton`, `ovms` or `torchserve` in practice.",
		"built_in_adapter.runtime_management_port":      "Port of the model server's management API.",
		"built_in_adapter.mem_buffer_bytes":             "Memory reserved in the container beyond the models' size.",
		"built_in_adapter.model_loading_timeout_millis": "How long a model load may take, in milliseconds.",
		"containers":                                    "Containers of the runtime (`spec.containers`), e.g. their images.",
		"containers.env.value":                          envValue,
		"built_in_adapter.env.value":                    envValue,
		"containers.liveness_probe":                     "Restarts the container when it fails: one of `exec`, `http_get`, `tcp_socket`.",
		"containers.readiness_probe":                    "Takes the pod out of service while it fails: one of `exec`, `http_get`, `tcp_socket`.",
		"containers.startup_probe":                      "Holds the other probes until it succeeds once: one of `exec`, `http_get`, `tcp_socket`.",
		"disabled":                                      "Whether the runtime is defined but unused (`spec.disabled`).",
		"replicas":                                      "Pods of this runtime (`spec.replicas`); null for ModelMesh's own default.",
		"storage_helper_disabled":                       "Whether the storage helper that pulls models into the pod is off (`spec.storageHelper.disabled`).",
		"supported_model_formats":                       "Model formats the runtime serves (`spec.supportedModelFormats`).",
	}, "labels", "annotations", "supported_model_formats", "multi_model", "disabled", "protocol_versions", "grpc_endpoint",
		"grpc_data_endpoint", "http_data_endpoint", "replicas", "storage_helper_disabled", "built_in_adapter", "containers")
	scope := "a namespace's models"
	if !kind.Namespaced {
		scope = "the models of every namespace"
	}
	d.readDescription = "Reads a KServe `" + kind.Kind + "` that already exists, whoever created it (ASM's KServe " +
		"install, another team, another state), with one request: the spec that decides which of " + scope + " it " +
		"serves and how (supported model formats, protocols, multi-model, disabled, containers and their images, " +
		"endpoints, built-in adapter), e.g. to check at plan time that a built-in runtime serves a format before " +
		"deploying a model to it. A missing " + kind.Kind + " is an error."
	d.listDescription = "Lists KServe `" + kind.Kind + "`s, whoever created them, with one request, optionally only " +
		"those matching a label selector: each with the attributes of the `asm" + typeName + "` data source, e.g. " +
		"to find the runtimes that serve a model format. None matching is an empty list."
	return d
}
