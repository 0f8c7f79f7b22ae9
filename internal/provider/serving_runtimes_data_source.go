package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/datasource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// NewServingRuntimesDataSource returns asm_serving_runtimes, the plural of asm_serving_runtime.
func NewServingRuntimesDataSource() datasource.DataSource {
	return &objectListDataSource{objectData: runtimeObjectData(kube.ServingRuntime, "_serving_runtime")}
}
