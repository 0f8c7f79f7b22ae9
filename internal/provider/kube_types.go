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
	"k8s.io/apimachinery/pkg/api/resource"
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

// stringTypeFrom builds the ValueFromTerraform of a custom string type from its ValueFromString.
func stringTypeFrom(ctx context.Context, in tftypes.Value, wrap func(basetypes.StringValue) attr.Value) (attr.Value, error) {
	v, err := basetypes.StringType{}.ValueFromTerraform(ctx, in)
	if err != nil {
		return nil, err
	}
	s, ok := v.(basetypes.StringValue)
	if !ok {
		return nil, fmt.Errorf("unexpected %T for a string", v)
	}
	return wrap(s), nil
}

// quantityType is a resource quantity (`500m`, `1Gi`, `1024Mi`). Two spellings of the same amount
// are equal, so a server or another tool rewriting `1024Mi` as `1Gi` is not drift.
type quantityType struct{ basetypes.StringType }

func (t quantityType) String() string { return "provider.quantityType" }

func (t quantityType) Equal(o attr.Type) bool {
	_, ok := o.(quantityType)
	return ok
}

func (t quantityType) ValueType(context.Context) attr.Value { return quantityValue{} }

func (t quantityType) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	return quantityValue{StringValue: in}, nil
}

func (t quantityType) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	return stringTypeFrom(ctx, in, func(s basetypes.StringValue) attr.Value { return quantityValue{StringValue: s} })
}

type quantityValue struct{ basetypes.StringValue }

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
	a, errA := resource.ParseQuantity(v.ValueString())
	b, errB := resource.ParseQuantity(newValue.ValueString())
	if errA != nil || errB != nil {
		return v.ValueString() == newValue.ValueString(), nil
	}
	return a.Cmp(b) == 0, nil
}

// jsonObjectType is a JSON object in a string. Formatting and key order do not matter.
type jsonObjectType struct{ basetypes.StringType }

func (t jsonObjectType) String() string { return "provider.jsonObjectType" }

func (t jsonObjectType) Equal(o attr.Type) bool {
	_, ok := o.(jsonObjectType)
	return ok
}

func (t jsonObjectType) ValueType(context.Context) attr.Value { return jsonObjectValue{} }

func (t jsonObjectType) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	return jsonObjectValue{StringValue: in}, nil
}

func (t jsonObjectType) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	return stringTypeFrom(ctx, in, func(s basetypes.StringValue) attr.Value { return jsonObjectValue{StringValue: s} })
}

type jsonObjectValue struct{ basetypes.StringValue }

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
type intOrStringType struct{ basetypes.StringType }

func (t intOrStringType) String() string { return "provider.intOrStringType" }

func (t intOrStringType) Equal(o attr.Type) bool {
	_, ok := o.(intOrStringType)
	return ok
}

func (t intOrStringType) ValueType(context.Context) attr.Value { return intOrStringValue{} }

func (t intOrStringType) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	return intOrStringValue{StringValue: in}, nil
}

func (t intOrStringType) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	return stringTypeFrom(ctx, in, func(s basetypes.StringValue) attr.Value { return intOrStringValue{StringValue: s} })
}

type intOrStringValue struct{ basetypes.StringValue }

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
