package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// spec_overrides_json: merged into the typed spec for fields no typed attribute covers, and
// projected back out of the live spec when read.

// mergeSpecOverrides merges spec_overrides_json into the typed spec. Only fields no typed
// attribute covers may be set; objects and name-keyed list items are descended into.
// lenient skips items it cannot find, for validation while some names are unknown.
func mergeSpecOverrides(spec, overrides map[string]any, lenient bool) error {
	return mergeOverrides(spec, overrides, specShape, "spec", lenient)
}

func mergeOverrides(typed, overrides map[string]any, shape attr.Type, at string, lenient bool) error {
	for field, ov := range overrides {
		here := at + "." + field
		t, covered := shapeField(shape, field)
		if !covered {
			typed[field] = ov
			continue
		}
		switch tt := t.(type) {
		case types.ObjectType:
			om, ok := ov.(map[string]any)
			if !ok {
				return fmt.Errorf("%s must be an object", here)
			}
			tm, _ := typed[field].(map[string]any)
			if tm == nil {
				tm = map[string]any{}
			}
			if err := mergeOverrides(tm, om, tt, here, lenient); err != nil {
				return err
			}
			if len(tm) > 0 {
				typed[field] = tm
			}
		case types.ListType:
			if !keyedByName(tt.ElemType) {
				return fmt.Errorf("%s is set through a typed attribute; remove it from spec_overrides_json", here)
			}
			items, ok := ov.([]any)
			if !ok {
				return fmt.Errorf("%s must be a list", here)
			}
			typedItems, _ := typed[field].([]any)
			for _, item := range items {
				om, _ := item.(map[string]any)
				name, ok := om["name"].(string)
				if !ok {
					return fmt.Errorf("%s: every item needs a \"name\" naming the typed item to extend", here)
				}
				target := findNamed(typedItems, name)
				if target == nil && lenient {
					continue
				}
				if target == nil {
					return fmt.Errorf("%s: there is no typed item named %q; add items through the typed attribute", here, name)
				}
				rest := map[string]any{}
				for k, v := range om {
					if k != "name" {
						rest[k] = v
					}
				}
				if err := mergeOverrides(target, rest, tt.ElemType, fmt.Sprintf("%s[name=%s]", here, name), lenient); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s is set through a typed attribute; remove it from spec_overrides_json", here)
		}
	}
	return nil
}

func findNamed(items []any, name string) map[string]any {
	for _, item := range items {
		if m, ok := item.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	return nil
}

// projectOverrides reads back the fields an override set: the live values at the override's paths.
func projectOverrides(live any, overrides map[string]any, shape attr.Type) map[string]any {
	lm, _ := live.(map[string]any)
	out := map[string]any{}
	for field, ov := range overrides {
		lv, found := lm[field]
		if !found {
			continue
		}
		t, covered := shapeField(shape, field)
		switch {
		case !covered:
			out[field] = lv
		case isObjectType(t):
			if om, ok := ov.(map[string]any); ok {
				out[field] = projectOverrides(lv, om, t)
			}
		case isKeyedList(t):
			items, _ := ov.([]any)
			liveItems, _ := lv.([]any)
			projected := []any{}
			for _, item := range items {
				om, _ := item.(map[string]any)
				name, _ := om["name"].(string)
				if li := findNamed(liveItems, name); li != nil {
					p := projectOverrides(li, om, listElemType(t))
					p["name"] = name
					projected = append(projected, p)
				}
			}
			out[field] = projected
		}
	}
	return out
}

// residualSpec is, on import, what spec_overrides_json must hold: the owned fields of the live
// spec that no typed attribute covers.
func residualSpec(live map[string]any, shape attr.Type) map[string]any {
	out := map[string]any{}
	for field, lv := range live {
		t, covered := shapeField(shape, field)
		switch {
		case !covered:
			out[field] = lv
		case isObjectType(t):
			if lm, ok := lv.(map[string]any); ok {
				if r := residualSpec(lm, t); len(r) > 0 {
					out[field] = r
				}
			}
		case isKeyedList(t):
			var items []any
			liveItems, _ := lv.([]any)
			for _, li := range liveItems {
				lm, _ := li.(map[string]any)
				if r := residualSpec(lm, listElemType(t)); len(r) > 0 {
					r["name"] = lm["name"]
					items = append(items, r)
				}
			}
			if len(items) > 0 {
				out[field] = items
			}
		}
	}
	return out
}

func isObjectType(t attr.Type) bool {
	_, ok := t.(types.ObjectType)
	return ok
}

func isKeyedList(t attr.Type) bool {
	return keyedByName(listElemType(t))
}

// listElemType is the element type of a list type, nil for other types.
func listElemType(t attr.Type) attr.Type {
	if l, ok := t.(types.ListType); ok {
		return l.ElemType
	}
	return nil
}
