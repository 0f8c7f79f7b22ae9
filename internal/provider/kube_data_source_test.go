package provider

import (
	"context"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
)

// resourceOnly are phrases of resource descriptions that are wrong for a read-only attribute: what
// to set, what setting does, the mlserver preset.
var resourceOnly = regexp.MustCompile(`\bRequired\b|\bOptional\b|Only the keys set here|Computed:|Changing it|\bpreset\b|Exactly one of .containers.`)

// Every read-only attribute of the object data sources, nested ones included, describes the
// object, not what configuring a resource takes.
func TestObjectDataSourceDescriptions(t *testing.T) {
	ctx := context.Background()
	for _, newDataSource := range []func() datasource.DataSource{
		NewInferenceServiceDataSource, NewInferenceServicesDataSource, NewServingRuntimeDataSource,
		NewServingRuntimesDataSource, NewClusterServingRuntimeDataSource, NewClusterServingRuntimesDataSource,
	} {
		ds := newDataSource()
		var meta datasource.MetadataResponse
		ds.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "asm"}, &meta)
		var resp datasource.SchemaResponse
		ds.Schema(ctx, datasource.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("%s: %v", meta.TypeName, resp.Diagnostics)
		}
		checked := checkReadOnlyDescriptions(t, meta.TypeName, resp.Schema.Attributes)
		if checked < 10 {
			t.Errorf("%s: only %d read-only attributes checked", meta.TypeName, checked)
		}
	}
}

func checkReadOnlyDescriptions(t *testing.T, at string, attrs map[string]dschema.Attribute) (checked int) {
	t.Helper()
	for name, a := range attrs {
		path := at + "." + name
		if a.IsComputed() && !a.IsOptional() {
			checked++
			if d := a.GetDescription(); d == "" || resourceOnly.MatchString(d) {
				t.Errorf("%s: description %q", path, d)
			}
		}
		switch a := a.(type) {
		case dschema.SingleNestedAttribute:
			checked += checkReadOnlyDescriptions(t, path, a.Attributes)
		case dschema.ListNestedAttribute:
			checked += checkReadOnlyDescriptions(t, path, a.NestedObject.Attributes)
		}
	}
	return checked
}

// A label selector the API server would refuse fails validation, before any request.
func TestObjectListDataSource_invalidLabelSelector(t *testing.T) {
	for _, typeName := range []string{"asm_inference_services", "asm_serving_runtimes", "asm_cluster_serving_runtimes"} {
		t.Run(typeName, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfigUnreachableKube() + "data \"" + typeName + "\" \"test\" {\n" +
						"  label_selector = \"team in (vision\"\n}\n",
					ExpectError: errorPattern(`label_selector must be a Kubernetes label selector .*team in \(vision`),
				}},
			})
		})
	}
}
