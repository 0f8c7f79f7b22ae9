package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// The runtime schema's types, taken from the schema itself, and the spec's shape that tells
// spec_overrides_json and the values engine what the typed attributes cover.

// Types of the nested attributes, from the schema itself.
var (
	runtimeTypes = func() map[string]attr.Type {
		out := map[string]attr.Type{}
		for name, a := range runtimeAttributes() {
			out[name] = a.GetType()
		}
		return out
	}()
	containersType = schemaType[types.ListType](runtimeTypes["containers"])
	containerType  = schemaType[types.ObjectType](containersType.ElemType)
	mlserverType   = schemaType[types.ObjectType](runtimeTypes["mlserver"])
	adapterType    = schemaType[types.ObjectType](runtimeTypes["built_in_adapter"])
	envType        = schemaType[types.ListType](containerType.AttrTypes["env"]).ElemType
	volumeType     = schemaType[types.ListType](runtimeTypes["volumes"]).ElemType
	formatType     = schemaType[types.ListType](runtimeTypes["supported_model_formats"]).ElemType

	// specShape is the typed schema in the spec's own layout, telling spec_overrides_json which
	// fields typed attributes cover.
	specShape = types.ObjectType{AttrTypes: map[string]attr.Type{
		"supported_model_formats": runtimeTypes["supported_model_formats"],
		"multi_model":             types.BoolType,
		"disabled":                types.BoolType,
		"protocol_versions":       runtimeTypes["protocol_versions"],
		"grpc_endpoint":           types.StringType,
		"grpc_data_endpoint":      types.StringType,
		"http_data_endpoint":      types.StringType,
		"replicas":                types.Int64Type,
		"storage_helper":          types.ObjectType{AttrTypes: map[string]attr.Type{"disabled": types.BoolType}},
		"built_in_adapter":        adapterType,
		"containers":              containersType,
		"volumes":                 runtimeTypes["volumes"],
		"node_selector":           runtimeTypes["node_selector"],
		"tolerations":             runtimeTypes["tolerations"],
		"affinity":                jsonObjectType{},
		"image_pull_secrets":      runtimeTypes["image_pull_secrets"],
		"labels":                  runtimeTypes["pod_labels"],
		"annotations":             runtimeTypes["pod_annotations"],
	}}
)

// schemaType asserts the type of a schema attribute, a fact of the schema above.
func schemaType[T attr.Type](t attr.Type) T {
	out, ok := t.(T)
	if !ok {
		panic(fmt.Sprintf("schema type %s is not a %T", t, out))
	}
	return out
}

// keyedByName tells the lists whose items are identified by their unique name.
func keyedByName(t attr.Type) bool {
	if t == nil {
		return false
	}
	for _, keyed := range []attr.Type{containerType, envType, volumeType, formatType} {
		if t.Equal(keyed) {
			return true
		}
	}
	return false
}

// shapeField finds the type of a spec field in an object type of the typed schema.
func shapeField(t attr.Type, field string) (attr.Type, bool) {
	obj, ok := t.(types.ObjectType)
	if !ok {
		return nil, false
	}
	for name, at := range obj.AttrTypes {
		if kubeFieldName(name) == field {
			return at, true
		}
	}
	return nil, false
}
