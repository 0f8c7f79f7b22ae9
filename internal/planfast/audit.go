package planfast

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// Before a resource's ModifyPlan, the framework (fwserver.PlanResourceChange, v1.19.0) sets schema
// Defaults where the configuration is null, nulls write-only attributes, marks computed attributes
// unknown if the plan then differs from the prior state, and runs the attribute plan modifiers;
// decoding, it nulls empty list and set blocks. audit accepts a schema only where each of these
// provably leaves a plan equal to a non-null prior state alone, or can be checked per plan:
//   - Defaults: static ones only, their values collected in a node tree that hold checks;
//   - plan modifiers: only UseStateForUnknown (acts on an unknown plan value; a plan equal to a
//     prior state has none) and RequiresReplace/RequiresReplaceIf (act only when the plan value
//     differs from the state's);
//   - no write-only attributes, no list or set blocks, no set or map nested attributes.

// node is where, below an attribute, Defaults apply.
type node struct {
	def   *tftypes.Value   // this attribute's default
	attrs map[string]*node // an object's attributes that have defaults or hold some
	elem  *node            // a list's element object
}

// noOpModifiers are the plan modifier types that never change a plan equal to the prior state.
var noOpModifiers = []string{".useStateForUnknownModifier", ".requiresReplaceIfModifier"}

func audit(ctx context.Context, s schema.Schema) (*node, bool) {
	n, ok := auditObject(ctx, s.Attributes, s.Blocks)
	return n, ok
}

func auditObject(ctx context.Context, attrs map[string]schema.Attribute, blocks map[string]schema.Block) (*node, bool) {
	out := &node{attrs: map[string]*node{}}
	for name, a := range attrs {
		n, ok := auditAttribute(ctx, a)
		if !ok {
			return nil, false
		}
		if n != nil {
			out.attrs[name] = n
		}
	}
	for name, b := range blocks {
		sb, ok := b.(schema.SingleNestedBlock)
		if !ok || !noOpPlanModifiers(sb) {
			return nil, false
		}
		n, ok := auditObject(ctx, sb.Attributes, sb.Blocks)
		if !ok {
			return nil, false
		}
		if n != nil {
			out.attrs[name] = n
		}
	}
	if len(out.attrs) == 0 {
		return nil, true
	}
	return out, true
}

func auditAttribute(ctx context.Context, a schema.Attribute) (*node, bool) {
	if a.IsWriteOnly() || !noOpPlanModifiers(a) {
		return nil, false
	}
	var n *node
	switch a := a.(type) {
	case schema.SingleNestedAttribute:
		var ok bool
		if n, ok = auditObject(ctx, a.Attributes, nil); !ok {
			return nil, false
		}
	case schema.ListNestedAttribute:
		if !noOpPlanModifiers(a.NestedObject) {
			return nil, false
		}
		elem, ok := auditObject(ctx, a.NestedObject.Attributes, nil)
		if !ok {
			return nil, false
		}
		if elem != nil {
			n = &node{elem: elem}
		}
	case schema.SetNestedAttribute, schema.MapNestedAttribute:
		return nil, false
	}
	def, ok := staticDefault(ctx, a)
	if !ok {
		return nil, false
	}
	if def != nil {
		if n == nil {
			n = &node{}
		}
		n.def = def
	}
	return n, true
}

// noOpPlanModifiers reports whether v's PlanModifiers (a field of every schema attribute, nested
// object and block type) are all in noOpModifiers.
func noOpPlanModifiers(v any) bool {
	f := reflect.ValueOf(v).FieldByName("PlanModifiers")
	if !f.IsValid() {
		return true
	}
	for i := range f.Len() {
		name := fmt.Sprintf("%T", f.Index(i).Interface())
		known := false
		for _, suffix := range noOpModifiers {
			known = known || strings.HasSuffix(name, suffix)
		}
		if !known {
			return false
		}
	}
	return true
}

// staticDefault is a's Default as a value, nil without one; not ok for a default that is not one of
// the framework's static ones, whose value might depend on the path.
func staticDefault(ctx context.Context, a schema.Attribute) (*tftypes.Value, bool) {
	f := reflect.ValueOf(a).FieldByName("Default")
	if !f.IsValid() || f.IsNil() {
		return nil, true
	}
	d := f.Interface()
	if !strings.Contains(fmt.Sprintf("%T", d), ".static") {
		return nil, false
	}
	var v attr.Value
	switch d := d.(type) {
	case defaults.Bool:
		v = planValue(ctx, d.DefaultBool, func(r defaults.BoolResponse) attr.Value { return r.PlanValue })
	case defaults.String:
		v = planValue(ctx, d.DefaultString, func(r defaults.StringResponse) attr.Value { return r.PlanValue })
	case defaults.Int64:
		v = planValue(ctx, d.DefaultInt64, func(r defaults.Int64Response) attr.Value { return r.PlanValue })
	case defaults.Object:
		v = planValue(ctx, d.DefaultObject, func(r defaults.ObjectResponse) attr.Value { return r.PlanValue })
	default:
		return nil, false
	}
	tv, err := v.ToTerraformValue(ctx)
	if err != nil {
		return nil, false
	}
	return &tv, true
}

// planValue is what a Default method plans; a static default ignores the request's path.
func planValue[Req, Resp any](ctx context.Context, method func(context.Context, Req, *Resp), value func(Resp) attr.Value) attr.Value {
	var req Req
	var resp Resp
	method(ctx, req, &resp)
	return value(resp)
}

// hold reports whether the framework's defaults leave prior as it is: wherever prior has a value
// (the framework transforms the planned value, equal to prior) and config has none, prior holds
// the default already.
func (n *node) hold(prior, config tftypes.Value) bool {
	if n == nil {
		return true
	}
	if n.def != nil && config.IsNull() && !prior.Equal(*n.def) {
		return false
	}
	if prior.IsNull() || !prior.IsKnown() {
		return true
	}
	switch {
	case n.attrs != nil:
		var p, c map[string]tftypes.Value
		if prior.As(&p) != nil {
			return false
		}
		if !config.IsNull() && config.As(&c) != nil {
			return false
		}
		for name, child := range n.attrs {
			if !child.hold(p[name], c[name]) {
				return false
			}
		}
	case n.elem != nil:
		var p, c []tftypes.Value
		if prior.As(&p) != nil {
			return false
		}
		if !config.IsNull() && config.As(&c) != nil {
			return false
		}
		for i := range p {
			var ci tftypes.Value
			if i < len(c) {
				ci = c[i]
			}
			if !n.elem.hold(p[i], ci) {
				return false
			}
		}
	}
	return true
}
