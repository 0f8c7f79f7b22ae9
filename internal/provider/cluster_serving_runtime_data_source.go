package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/datasource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// NewClusterServingRuntimeDataSource returns asm_cluster_serving_runtime: asm_serving_runtime
// without a namespace.
func NewClusterServingRuntimeDataSource() datasource.DataSource {
	return &objectDataSource{objectData: runtimeObjectData(kube.ClusterServingRuntime, "_cluster_serving_runtime")}
}
