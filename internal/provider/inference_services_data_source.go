package provider

import "github.com/hashicorp/terraform-plugin-framework/datasource"

// NewInferenceServicesDataSource returns asm_inference_services, the plural of asm_inference_service.
func NewInferenceServicesDataSource() datasource.DataSource {
	return &objectListDataSource{objectData: inferenceServiceObjectData()}
}
