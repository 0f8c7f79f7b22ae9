package provider

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The core of the data sources that read Kubernetes objects others created: the singular form
// (asm_inference_service, asm_serving_runtime, asm_cluster_serving_runtime) GETs one object by
// name, the plural form (asm_inference_services, ...) LISTs them by namespace and label selector.
// Their attributes are read-only copies of the matching resource's, and an object is read with the
// resource's own field mapping, in full: whoever wrote a field, it is the object's.

var (
	_ datasource.DataSourceWithConfigure = &objectDataSource{}
	_ datasource.DataSourceWithConfigure = &objectListDataSource{}
)

// configuredDataSource is embedded by the object data sources: its Configure keeps the provider's data.
type configuredDataSource struct {
	data *providerData
}

func (d *configuredDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataOf(req.ProviderData, &resp.Diagnostics)
}

// objectData is what both forms need of one kind.
type objectData struct {
	kind     kube.Kind
	typeName string // after the provider's type name, e.g. "_serving_runtime"; the plural form adds "s"
	// readDescription and listDescription describe the singular and the plural data source.
	readDescription, listDescription string
	// attributes are the read-only attributes of one object but id, name and namespace.
	attributes func(ctx context.Context) map[string]dschema.Attribute
	// read gives their values for a live object.
	read func(ctx context.Context, obj *unstructured.Unstructured, diags *diag.Diagnostics) map[string]attr.Value
}

// hookedResource is a resource built on kubeResource, whose hooks map its model M.
type hookedResource[M any] interface {
	resource.Resource
	kubeHooks[M]
}

// newObjectData copies the named attributes of resource r (of kind, managed by kubeResource) into
// read-only ones; descriptions replaces the descriptions that only make sense for a resource, by
// attribute path (`model_format.name`).
func newObjectData[M any](r hookedResource[M], kind kube.Kind, typeName string, descriptions map[string]string, names ...string) objectData {
	// The resource schema depends on no context; it is built once, not once per object listed.
	schema := sync.OnceValue(func() rschema.Schema { return resourceSchema(context.Background(), r) })
	return objectData{
		kind:     kind,
		typeName: typeName,
		attributes: func(context.Context) map[string]dschema.Attribute {
			return computedAttributes(schema(), descriptions, names...)
		},
		read: func(ctx context.Context, obj *unstructured.Unstructured, diags *diag.Diagnostics) map[string]attr.Value {
			s := schema()
			m := r.getModel(ctx, nullState(ctx, s), diags)
			if diags.HasError() {
				return nil
			}
			if err := r.readObject(ctx, &m, obj, kube.AllFields()); err != nil {
				diags.AddError(fmt.Sprintf("Reading %s failed", objectRef(kind, obj)), err.Error())
				return nil
			}
			state := nullState(ctx, s)
			r.setModel(ctx, &state, &m, diags)
			if diags.HasError() {
				return nil
			}
			v, err := s.Type().ValueFromTerraform(ctx, state.Raw)
			if err != nil {
				diags.AddError(fmt.Sprintf("Reading %s failed", objectRef(kind, obj)), err.Error())
				return nil
			}
			object, ok := v.(types.Object)
			if !ok {
				panic("a resource schema's value is an object") // a fact of the framework
			}
			all := object.Attributes()
			out := make(map[string]attr.Value, len(names)+3)
			for _, name := range names {
				out[name] = all[name]
			}
			return out
		},
	}
}

func objectRef(kind kube.Kind, obj *unstructured.Unstructured) kube.Ref {
	return kube.Ref{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// objectAttributes are the attributes of one object, id, name and namespace read-only too.
func (o objectData) objectAttributes(ctx context.Context) map[string]dschema.Attribute {
	attrs := o.attributes(ctx)
	id := "`<name>`."
	if o.kind.Namespaced {
		id = "`<namespace>/<name>`."
		attrs["namespace"] = dschema.StringAttribute{Computed: true, Description: "Namespace of the " + o.kind.Kind + "."}
	}
	attrs["id"] = dschema.StringAttribute{Computed: true, Description: id}
	attrs["name"] = dschema.StringAttribute{Computed: true, Description: "Name of the " + o.kind.Kind + "."}
	return attrs
}

// values are the values of objectAttributes for a live object.
func (o objectData) values(ctx context.Context, obj *unstructured.Unstructured, diags *diag.Diagnostics) map[string]attr.Value {
	values := o.read(ctx, obj, diags)
	if values == nil {
		return nil
	}
	ref := objectRef(o.kind, obj)
	values["id"] = types.StringValue(kubeID(ref))
	values["name"] = types.StringValue(ref.Name)
	if o.kind.Namespaced {
		values["namespace"] = types.StringValue(ref.Namespace)
	}
	return values
}

// arguments are the string argument named and the namespace: the configured one for a namespaced
// kind, else the provider's default; null for a cluster-scoped kind.
func (d *configuredDataSource) arguments(ctx context.Context, kind kube.Kind, config tfsdk.Config, argument string, diags *diag.Diagnostics) (value, namespace types.String) {
	diags.Append(config.GetAttribute(ctx, path.Root(argument), &value)...)
	if !kind.Namespaced {
		return value, types.StringNull()
	}
	diags.Append(config.GetAttribute(ctx, path.Root("namespace"), &namespace)...)
	if namespace.IsNull() {
		namespace = types.StringValue(d.data.namespace)
	}
	return value, namespace
}

// objectDataSource is the singular form: one GET by name.
type objectDataSource struct {
	configuredDataSource
	objectData
}

func (d *objectDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + d.typeName
}

func (d *objectDataSource) Schema(ctx context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := d.objectAttributes(ctx)
	attrs["name"] = dschema.StringAttribute{Required: true, Description: "Name of the " + d.kind.Kind + ".",
		Validators: []validator.String{dnsSubdomain()}}
	if d.kind.Namespaced {
		attrs["namespace"] = namespaceArgument(d.kind.Kind)
	}
	resp.Schema = dschema.Schema{Description: d.readDescription, Attributes: attrs}
}

func (d *objectDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	name, namespace := d.arguments(ctx, d.kind, req.Config, "name", &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	obj := d.readNamed(ctx, kube.Ref{Kind: d.kind, Namespace: namespace.ValueString(), Name: name.ValueString()}, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	values := d.values(ctx, obj, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	object, diags := types.ObjectValue(schemaType[types.ObjectType](req.Config.Schema.Type()).AttrTypes, values)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, object)...)
}

// objectListDataSource is the plural form: one LIST by namespace and label selector.
type objectListDataSource struct {
	configuredDataSource
	objectData
}

func (d *objectListDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + d.typeName + "s"
}

func (d *objectListDataSource) Schema(ctx context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := map[string]dschema.Attribute{
		"label_selector": dschema.StringAttribute{
			Optional: true,
			Description: "Kubernetes label selector the " + d.kind.Kind + "s must match, as `kubectl get -l` takes it, " +
				"e.g. `team=vision,tier in (gold,silver),!canary`. Unset, all of them.",
			Validators: []validator.String{labelSelector()},
		},
		"items": dschema.ListNestedAttribute{
			Computed:     true,
			Description:  "The " + d.kind.Kind + "s found, sorted by name; empty when none matches.",
			NestedObject: dschema.NestedAttributeObject{Attributes: d.objectAttributes(ctx)},
		},
	}
	if d.kind.Namespaced {
		attrs["namespace"] = namespaceArgument(d.kind.Kind + "s")
	}
	resp.Schema = dschema.Schema{Description: d.listDescription, Attributes: attrs}
}

func (d *objectListDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	selector, namespace := d.arguments(ctx, d.kind, req.Config, "label_selector", &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	client := d.data.kubeClient(&resp.Diagnostics)
	if client == nil {
		return
	}
	objs, err := client.List(ctx, d.kind, namespace.ValueString(), selector.ValueString())
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Listing %s failed", kube.Ref{Kind: d.kind, Namespace: namespace.ValueString()}), err.Error())
		return
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].GetName() < objs[j].GetName() })
	listType := schemaType[types.ListType](schemaType[types.ObjectType](req.Config.Schema.Type()).AttrTypes["items"])
	itemType := schemaType[types.ObjectType](listType.ElemType)
	items := make([]attr.Value, 0, len(objs))
	for i := range objs {
		values := d.values(ctx, &objs[i], &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		item, diags := types.ObjectValue(itemType.AttrTypes, values)
		resp.Diagnostics.Append(diags...)
		items = append(items, item)
	}
	list, diags := types.ListValue(itemType, items)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("items"), list)...)
	if d.kind.Namespaced {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("namespace"), namespace)...)
	}
}

// labelSelector accepts what labels.Parse, the API server's parser, accepts.
func labelSelector() validator.String {
	return stringCheck{"must be a Kubernetes label selector", func(s string) []string {
		if _, err := labels.Parse(s); err != nil {
			return []string{err.Error()}
		}
		return nil
	}}
}

// computedAttributes copies the named attributes and single nested blocks of a resource schema as
// read-only attributes, with the resource's types and descriptions; descriptions replaces, by
// attribute path, those that only make sense for a resource ("Required", a default).
func computedAttributes(from rschema.Schema, descriptions map[string]string, names ...string) map[string]dschema.Attribute {
	c := copier{descriptions: descriptions, used: map[string]bool{}}
	out := make(map[string]dschema.Attribute, len(names))
	for _, name := range names {
		if a, ok := from.Attributes[name]; ok {
			out[name] = c.attribute(a, name)
			continue
		}
		block, ok := from.Blocks[name].(rschema.SingleNestedBlock)
		if !ok {
			panic(fmt.Sprintf("the resource schema has no attribute or single nested block %q", name)) // a fact of the schemas
		}
		out[name] = dschema.SingleNestedAttribute{Computed: true, Description: c.describe(block.Description, name),
			Attributes: c.all(block.Attributes, name)}
	}
	for at := range descriptions {
		if !c.used[at] {
			panic(fmt.Sprintf("a description replaces %q, which the copied attributes lack", at)) // a fact of the schemas
		}
	}
	return out
}

// copier copies resource attributes as read-only ones, with the descriptions replaced by path.
type copier struct {
	descriptions map[string]string
	used         map[string]bool
}

func (c copier) all(attrs map[string]rschema.Attribute, parent string) map[string]dschema.Attribute {
	out := make(map[string]dschema.Attribute, len(attrs))
	for name, a := range attrs {
		out[name] = c.attribute(a, parent+"."+name)
	}
	return out
}

// describe is the description of the attribute at path at: the replacement if any, else the resource's.
func (c copier) describe(resourceDescription, at string) string {
	if d, ok := c.descriptions[at]; ok {
		c.used[at] = true
		return d
	}
	return resourceDescription
}

// attribute is a read-only copy of the resource attribute at path at. Nested types are left for the
// framework to derive: they come out equal to the resource's.
func (c copier) attribute(a rschema.Attribute, at string) dschema.Attribute {
	description := c.describe(a.GetDescription(), at)
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
		return dschema.SingleNestedAttribute{Computed: true, Description: description, Attributes: c.all(a.Attributes, at)}
	case rschema.ListNestedAttribute:
		return dschema.ListNestedAttribute{Computed: true, Description: description,
			NestedObject: dschema.NestedAttributeObject{Attributes: c.all(a.NestedObject.Attributes, at)}}
	}
	panic(fmt.Sprintf("no data source counterpart for resource attribute type %T", a)) // a fact of the schemas
}

// namespaceArgument is the optional namespace of the objects to read, resolved by arguments.
func namespaceArgument(kind string) dschema.StringAttribute {
	return dschema.StringAttribute{
		Optional: true,
		Computed: true,
		Description: "Namespace of the " + kind + ". Defaults to the provider's `kubernetes.namespace` (itself " +
			"defaulting to `" + defaultNamespace + "`).",
		Validators: []validator.String{dnsLabel()},
	}
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

// nullState is a state of the resource schema s with the typed null of every attribute: the prior
// values from which a resource's mapping reads an object in full.
func nullState(ctx context.Context, s rschema.Schema) tfsdk.State {
	t, ok := s.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		panic("a resource schema is an object") // a fact of the framework
	}
	nulls := make(map[string]tftypes.Value, len(t.AttributeTypes))
	for name, at := range t.AttributeTypes {
		nulls[name] = tftypes.NewValue(at, nil)
	}
	return tfsdk.State{Schema: s, Raw: tftypes.NewValue(t, nulls)}
}

// resourceSchema is the schema of a resource, which the data sources copy.
func resourceSchema(ctx context.Context, r resource.Resource) rschema.Schema {
	var resp resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &resp)
	return resp.Schema
}
