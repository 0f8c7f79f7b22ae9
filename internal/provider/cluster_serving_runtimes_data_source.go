package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/datasource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// NewClusterServingRuntimesDataSource returns asm_cluster_serving_runtimes, the plural of
// asm_cluster_serving_runtime.
func NewClusterServingRuntimesDataSource() datasource.DataSource {
	return &objectListDataSource{objectData: runtimeObjectData(kube.ClusterServingRuntime, "_cluster_serving_runtime")}
}
