package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Conversion between Terraform values and the JSON of Kubernetes objects, driven by the schema's
// types: an attribute `image_pull_policy` is the field `imagePullPolicy`, lists are arrays, maps
// are objects whose keys are kept as written. One set of rules for every nested Kubernetes
// structure keeps the typed schema and the wire format from drifting apart.

// kubeFieldName is the Kubernetes field name of a snake_case attribute name.
func kubeFieldName(attribute string) string {
	parts := strings.Split(attribute, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// valueToJSON converts v to its Kubernetes JSON form. Null values and null object attributes are
// left out (nil). Unknown values are left out too and make complete false, so that callers can
// validate what is known at plan time.
func valueToJSON(ctx context.Context, v attr.Value) (out any, complete bool, err error) {
	if v == nil || v.IsNull() {
		return nil, true, nil
	}
	if v.IsUnknown() {
		return nil, false, nil
	}
	complete = true
	switch tv := v.(type) {
	case kubeJSONValuer:
		out, err = tv.kubeJSON()
		return out, true, err
	case basetypes.ObjectValuable:
		obj, diags := tv.ToObjectValue(ctx)
		if diags.HasError() {
			return nil, false, fmt.Errorf("converting object: %v", diags)
		}
		m := map[string]any{}
		for name, a := range obj.Attributes() {
			j, ok, err := valueToJSON(ctx, a)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", name, err)
			}
			complete = complete && ok
			if j != nil {
				m[kubeFieldName(name)] = j
			}
		}
		return m, complete, nil
	case basetypes.ListValuable:
		list, diags := tv.ToListValue(ctx)
		if diags.HasError() {
			return nil, false, fmt.Errorf("converting list: %v", diags)
		}
		items := make([]any, 0, len(list.Elements()))
		for i, e := range list.Elements() {
			j, ok, err := valueToJSON(ctx, e)
			if err != nil {
				return nil, false, fmt.Errorf("[%d]: %w", i, err)
			}
			complete = complete && ok
			items = append(items, j)
		}
		return items, complete, nil
	case basetypes.MapValuable:
		mv, diags := tv.ToMapValue(ctx)
		if diags.HasError() {
			return nil, false, fmt.Errorf("converting map: %v", diags)
		}
		m := map[string]any{}
		for k, e := range mv.Elements() {
			j, ok, err := valueToJSON(ctx, e)
			if err != nil {
				return nil, false, fmt.Errorf("[%q]: %w", k, err)
			}
			complete = complete && ok
			if j != nil {
				m[k] = j
			}
		}
		return m, complete, nil
	case basetypes.StringValuable:
		s, diags := tv.ToStringValue(ctx)
		if diags.HasError() {
			return nil, false, fmt.Errorf("converting string: %v", diags)
		}
		return s.ValueString(), true, nil
	case basetypes.Int64Valuable:
		i, diags := tv.ToInt64Value(ctx)
		if diags.HasError() {
			return nil, false, fmt.Errorf("converting number: %v", diags)
		}
		return i.ValueInt64(), true, nil
	case basetypes.BoolValuable:
		b, diags := tv.ToBoolValue(ctx)
		if diags.HasError() {
			return nil, false, fmt.Errorf("converting bool: %v", diags)
		}
		return b.ValueBool(), true, nil
	}
	return nil, false, fmt.Errorf("unsupported value type %T", v)
}

// nullValue returns the null value of any type.
func nullValue(ctx context.Context, t attr.Type) attr.Value {
	v, err := t.ValueFromTerraform(ctx, tftypes.NewValue(t.TerraformType(ctx), nil))
	if err != nil {
		panic(fmt.Sprintf("null value of %s: %v", t, err)) // only for types this package defines
	}
	return v
}

// unknownValue returns the unknown value of any type.
func unknownValue(ctx context.Context, t attr.Type) attr.Value {
	v, err := t.ValueFromTerraform(ctx, tftypes.NewValue(t.TerraformType(ctx), tftypes.UnknownValue))
	if err != nil {
		panic(fmt.Sprintf("unknown value of %s: %v", t, err))
	}
	return v
}

// valueFromJSON converts Kubernetes JSON (as decoded into unstructured objects) to a value of type
// t. Absent (nil) gives null; object attributes missing from the JSON are null.
func valueFromJSON(ctx context.Context, j any, t attr.Type) (attr.Value, error) {
	if j == nil {
		return nullValue(ctx, t), nil
	}
	switch tt := t.(type) {
	case basetypes.ObjectType:
		m, ok := j.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected an object, got %T", j)
		}
		attrs := make(map[string]attr.Value, len(tt.AttrTypes))
		for name, at := range tt.AttrTypes {
			v, err := valueFromJSON(ctx, m[kubeFieldName(name)], at)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kubeFieldName(name), err)
			}
			attrs[name] = v
		}
		obj, diags := basetypes.NewObjectValue(tt.AttrTypes, attrs)
		if diags.HasError() {
			return nil, fmt.Errorf("building object: %v", diags)
		}
		return obj, nil
	case basetypes.ListType:
		items, ok := j.([]any)
		if !ok {
			return nil, fmt.Errorf("expected a list, got %T", j)
		}
		elems := make([]attr.Value, 0, len(items))
		for i, item := range items {
			v, err := valueFromJSON(ctx, item, tt.ElemType)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			elems = append(elems, v)
		}
		list, diags := basetypes.NewListValue(tt.ElemType, elems)
		if diags.HasError() {
			return nil, fmt.Errorf("building list: %v", diags)
		}
		return list, nil
	case basetypes.MapType:
		m, ok := j.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected an object, got %T", j)
		}
		elems := make(map[string]attr.Value, len(m))
		for k, item := range m {
			v, err := valueFromJSON(ctx, item, tt.ElemType)
			if err != nil {
				return nil, fmt.Errorf("[%q]: %w", k, err)
			}
			elems[k] = v
		}
		mv, diags := basetypes.NewMapValue(tt.ElemType, elems)
		if diags.HasError() {
			return nil, fmt.Errorf("building map: %v", diags)
		}
		return mv, nil
	case basetypes.StringTypable:
		var s string
		switch x := j.(type) {
		case string:
			s = x
		case map[string]any:
			if _, ok := tt.(jsonObjectType); !ok {
				return nil, fmt.Errorf("expected a string, got an object")
			}
			b, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			s = string(b)
		case []any:
			return nil, fmt.Errorf("expected a string, got a list")
		default:
			// Numbers and booleans: int-or-string fields and quantities written as numbers.
			s = fmt.Sprint(x)
		}
		v, diags := tt.ValueFromString(ctx, basetypes.NewStringValue(s))
		if diags.HasError() {
			return nil, fmt.Errorf("building string: %v", diags)
		}
		return v, nil
	case basetypes.Int64Typable:
		var n int64
		switch x := j.(type) {
		case int64:
			n = x
		case int:
			n = int64(x)
		case int32:
			n = int64(x)
		case float64:
			n = int64(x)
		case json.Number:
			parsed, err := x.Int64()
			if err != nil {
				return nil, err
			}
			n = parsed
		case string:
			parsed, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("expected a number, got %q", x)
			}
			n = parsed
		default:
			return nil, fmt.Errorf("expected a number, got %T", j)
		}
		v, diags := tt.ValueFromInt64(ctx, basetypes.NewInt64Value(n))
		if diags.HasError() {
			return nil, fmt.Errorf("building number: %v", diags)
		}
		return v, nil
	case basetypes.BoolTypable:
		b, ok := j.(bool)
		if !ok {
			return nil, fmt.Errorf("expected a boolean, got %T", j)
		}
		v, diags := tt.ValueFromBool(ctx, basetypes.NewBoolValue(b))
		if diags.HasError() {
			return nil, fmt.Errorf("building boolean: %v", diags)
		}
		return v, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}
