package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/resource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// NewClusterServingRuntimeResource is asm_cluster_serving_runtime, a cluster-scoped KServe
// ClusterServingRuntime: the same resource as asm_serving_runtime without a namespace.
func NewClusterServingRuntimeResource() resource.Resource {
	return newRuntimeResource(kube.ClusterServingRuntime, "_cluster_serving_runtime")
}
