package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// String types for Kubernetes values that have more than one spelling. Any resource managing
// Kubernetes objects can use them; valueToJSON and valueFromJSON know how to convert them.

var (
	_ basetypes.StringTypable                    = quantityType{}
	_ basetypes.StringValuableWithSemanticEquals = quantityValue{}
	_ basetypes.StringTypable                    = jsonObjectType{}
	_ basetypes.StringValuableWithSemanticEquals = jsonObjectValue{}
	_ basetypes.StringTypable                    = intOrStringType{}
	_ kubeJSONValuer                             = intOrStringValue{}
	_ kubeJSONValuer                             = jsonObjectValue{}
)

// kubeJSONValuer is implemented by values whose Kubernetes JSON form is not their Terraform string.
type kubeJSONValuer interface {
	kubeJSON() (any, error)
}

// customStringValue is what stringType needs of a value type: to wrap a plain string value, and the
// name its type prints.
type customStringValue[V any] interface {
	basetypes.StringValuable
	wrap(basetypes.StringValue) V
	typeName() string
}

// stringType is the attr.Type of a custom string value V; the types below are its instances.
type stringType[V customStringValue[V]] struct{ basetypes.StringType }

func (t stringType[V]) String() string {
	var zero V
	return zero.typeName()
}

func (t stringType[V]) Equal(o attr.Type) bool {
	_, ok := o.(stringType[V])
	return ok
}

func (t stringType[V]) ValueType(context.Context) attr.Value {
	var zero V
	return zero
}

func (t stringType[V]) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	var zero V
	return zero.wrap(in), nil
}

func (t stringType[V]) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	v, err := basetypes.StringType{}.ValueFromTerraform(ctx, in)
	if err != nil {
		return nil, err
	}
	s, ok := v.(basetypes.StringValue)
	if !ok {
		return nil, fmt.Errorf("unexpected %T for a string", v)
	}
	var zero V
	return zero.wrap(s), nil
}

// quantityType is a resource quantity (`500m`, `1Gi`, `1024Mi`). Two spellings of the same amount
// are equal, so a server or another tool rewriting `1024Mi` as `1Gi` is not drift.
type quantityType = stringType[quantityValue]

type quantityValue struct{ basetypes.StringValue }

func (quantityValue) wrap(s basetypes.StringValue) quantityValue {
	return quantityValue{StringValue: s}
}

func (quantityValue) typeName() string { return "provider.quantityType" }

func (v quantityValue) Type(context.Context) attr.Type { return quantityType{} }

func (v quantityValue) Equal(o attr.Value) bool {
	other, ok := o.(quantityValue)
	return ok && v.StringValue.Equal(other.StringValue)
}

func (v quantityValue) StringSemanticEquals(_ context.Context, newValuable basetypes.StringValuable) (bool, diag.Diagnostics) {
	newValue, ok := newValuable.(quantityValue)
	if !ok {
		return false, nil
	}
	a, errA := parseQuantity(v.ValueString())
	b, errB := parseQuantity(newValue.ValueString())
	if errA != nil || errB != nil {
		return v.ValueString() == newValue.ValueString(), nil
	}
	return a.Cmp(b) == 0, nil
}

// jsonObjectType is a JSON object in a string. Formatting and key order do not matter.
type jsonObjectType = stringType[jsonObjectValue]

type jsonObjectValue struct{ basetypes.StringValue }

func (jsonObjectValue) wrap(s basetypes.StringValue) jsonObjectValue {
	return jsonObjectValue{StringValue: s}
}

func (jsonObjectValue) typeName() string { return "provider.jsonObjectType" }

func jsonObjectNull() jsonObjectValue { return jsonObjectValue{StringValue: basetypes.NewStringNull()} }

// jsonObjectOf encodes a decoded object; nil gives null.
func jsonObjectOf(v map[string]any) (jsonObjectValue, error) {
	if v == nil {
		return jsonObjectNull(), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return jsonObjectValue{}, err
	}
	return jsonObjectValue{StringValue: basetypes.NewStringValue(string(b))}, nil
}

func (v jsonObjectValue) Type(context.Context) attr.Type { return jsonObjectType{} }

// String keeps the JSON's content out of anything that prints the value, such as the framework's
// TRACE log of semantic-equality calls: config_json holds secrets.
func (v jsonObjectValue) String() string {
	switch {
	case v.IsNull():
		return "<null>"
	case v.IsUnknown():
		return "<unknown>"
	}
	return "<json object>"
}

func (v jsonObjectValue) Equal(o attr.Value) bool {
	other, ok := o.(jsonObjectValue)
	return ok && v.StringValue.Equal(other.StringValue)
}

// object decodes the value; null gives nil.
func (v jsonObjectValue) object() (map[string]any, error) {
	if v.IsNull() || v.IsUnknown() {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(v.ValueString()), &out); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return out, nil
}

func (v jsonObjectValue) kubeJSON() (any, error) {
	o, err := v.object()
	if o == nil {
		return nil, err
	}
	return o, err
}

func (v jsonObjectValue) StringSemanticEquals(_ context.Context, newValuable basetypes.StringValuable) (bool, diag.Diagnostics) {
	newValue, ok := newValuable.(jsonObjectValue)
	if !ok {
		return false, nil
	}
	a, errA := v.object()
	b, errB := newValue.object()
	if errA != nil || errB != nil {
		return v.ValueString() == newValue.ValueString(), nil
	}
	return reflect.DeepEqual(a, b), nil
}

// intOrStringType is a Kubernetes IntOrString such as a probe's port: a number, or the name of a
// container port. Numbers are sent as JSON numbers, since "8080" would name a port.
type intOrStringType = stringType[intOrStringValue]

type intOrStringValue struct{ basetypes.StringValue }

func (intOrStringValue) wrap(s basetypes.StringValue) intOrStringValue {
	return intOrStringValue{StringValue: s}
}

func (intOrStringValue) typeName() string { return "provider.intOrStringType" }

func (v intOrStringValue) Type(context.Context) attr.Type { return intOrStringType{} }

func (v intOrStringValue) Equal(o attr.Value) bool {
	other, ok := o.(intOrStringValue)
	return ok && v.StringValue.Equal(other.StringValue)
}

func (v intOrStringValue) kubeJSON() (any, error) {
	if n, err := strconv.ParseInt(v.ValueString(), 10, 32); err == nil {
		return n, nil
	}
	return v.ValueString(), nil
}
