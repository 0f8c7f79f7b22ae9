package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The core of the data sources that read one Kubernetes object by name (asm_inference_service,
// asm_serving_runtime, asm_cluster_serving_runtime), for objects that others created. Their
// attributes are read-only copies of the matching resource's, and the object is read with the
// resource's own field mapping, in full: whoever wrote a field, it is the object's.

// configuredDataSource is embedded by the object data sources: its Configure keeps the provider's data.
type configuredDataSource struct {
	data *providerData
}

func (d *configuredDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataOf(req.ProviderData, &resp.Diagnostics)
}

// computedAttributes copies the named attributes and single nested blocks of a resource schema as
// read-only attributes, with the resource's types and descriptions; descriptions replaces those of
// the top-level ones that only make sense for a resource.
func computedAttributes(from rschema.Schema, descriptions map[string]string, names ...string) map[string]dschema.Attribute {
	out := make(map[string]dschema.Attribute, len(names))
	for _, name := range names {
		if a, ok := from.Attributes[name]; ok {
			out[name] = computedAttribute(a, descriptions[name])
			continue
		}
		block, ok := from.Blocks[name].(rschema.SingleNestedBlock)
		if !ok {
			panic(fmt.Sprintf("the resource schema has no attribute or single nested block %q", name)) // a fact of the schemas
		}
		description := descriptions[name]
		if description == "" {
			description = block.Description
		}
		out[name] = dschema.SingleNestedAttribute{Computed: true, Description: description, Attributes: computedAll(block.Attributes)}
	}
	return out
}

func computedAll(attrs map[string]rschema.Attribute) map[string]dschema.Attribute {
	out := make(map[string]dschema.Attribute, len(attrs))
	for name, a := range attrs {
		out[name] = computedAttribute(a, "")
	}
	return out
}

// computedAttribute is a read-only copy of a resource attribute, described by description if set.
// Nested types are left for the framework to derive: they come out equal to the resource's.
func computedAttribute(a rschema.Attribute, description string) dschema.Attribute {
	if description == "" {
		description = a.GetDescription()
	}
	switch a := a.(type) {
	case rschema.StringAttribute:
		return dschema.StringAttribute{Computed: true, Description: description, CustomType: a.CustomType, Sensitive: a.Sensitive}
	case rschema.BoolAttribute:
		return dschema.BoolAttribute{Computed: true, Description: description}
	case rschema.Int64Attribute:
		return dschema.Int64Attribute{Computed: true, Description: description}
	case rschema.ListAttribute:
		return dschema.ListAttribute{Computed: true, Description: description, ElementType: a.ElementType}
	case rschema.MapAttribute:
		return dschema.MapAttribute{Computed: true, Description: description, ElementType: a.ElementType}
	case rschema.SingleNestedAttribute:
		return dschema.SingleNestedAttribute{Computed: true, Description: description, Attributes: computedAll(a.Attributes)}
	case rschema.ListNestedAttribute:
		return dschema.ListNestedAttribute{Computed: true, Description: description,
			NestedObject: dschema.NestedAttributeObject{Attributes: computedAll(a.NestedObject.Attributes)}}
	}
	panic(fmt.Sprintf("no data source counterpart for resource attribute type %T", a)) // a fact of the schemas
}

// nameAttribute is the required name of the object to read.
func nameAttribute(kind string, v validator.String) dschema.StringAttribute {
	return dschema.StringAttribute{Required: true, Description: "Name of the " + kind + ".", Validators: []validator.String{v}}
}

// namespaceArgument is the optional namespace of the object to read, resolved by objectNamespace.
func namespaceArgument(kind string) dschema.StringAttribute {
	return dschema.StringAttribute{
		Optional: true,
		Computed: true,
		Description: "Namespace of the " + kind + ". Defaults to the provider's `kubernetes.namespace` (itself " +
			"defaulting to `" + defaultNamespace + "`).",
		Validators: []validator.String{dnsLabel()},
	}
}

// objectNamespace is the configured namespace, or the provider's default.
func (d *configuredDataSource) objectNamespace(configured types.String) types.String {
	if configured.IsNull() {
		return types.StringValue(d.data.namespace)
	}
	return configured
}

// readNamed GETs the object: the only request a read makes. A missing object is an error naming it.
func (d *configuredDataSource) readNamed(ctx context.Context, ref kube.Ref, diags *diag.Diagnostics) *unstructured.Unstructured {
	client := d.data.kubeClient(diags)
	if client == nil {
		return nil
	}
	obj, found := readObject(ctx, client, ref, diags)
	if !found && !diags.HasError() {
		where := "the name"
		if ref.Namespace != "" {
			where = "the name and the namespace (the provider's kubernetes.namespace unless namespace is set)"
		}
		diags.AddError(fmt.Sprintf("%s not found", ref),
			fmt.Sprintf("The cluster the provider's kubernetes block points at has no such %s. Check %s, or create "+
				"it first: a data source reads an object that already exists.", ref.Kind.Kind, where))
	}
	return obj
}

// nullModel fills m, a model of the resource schema s, with the typed null of every attribute: the
// prior values from which the resource's mapping reads an object in full.
func nullModel(ctx context.Context, s rschema.Schema, m any) diag.Diagnostics {
	t, ok := s.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		panic("a resource schema is an object") // a fact of the framework
	}
	nulls := make(map[string]tftypes.Value, len(t.AttributeTypes))
	for name, at := range t.AttributeTypes {
		nulls[name] = tftypes.NewValue(at, nil)
	}
	return tfsdk.State{Schema: s, Raw: tftypes.NewValue(t, nulls)}.Get(ctx, m)
}

// resourceSchema is the schema of a resource, which the data sources copy.
func resourceSchema(ctx context.Context, r resource.Resource) rschema.Schema {
	var resp resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &resp)
	return resp.Schema
}
