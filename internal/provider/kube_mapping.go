package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The mapping between a model and the Kubernetes object it manages, in one style for every
// resource: each resource lists its attributes with the object field each maps to (kubeField), and
// the values engine (kube_values.go) converts them by their schema types both ways. Writing takes
// only the known values; reading takes a field back only when Terraform manages it.

// kubeField binds one attribute of a model to the field of the object at path.
type kubeField struct {
	path []string
	get  func() attr.Value
	set  func(attr.Value) bool
}

// bind is the kubeField of the attribute *v.
func bind[T attr.Value](v *T, path ...string) kubeField {
	return kubeField{
		path: path,
		get:  func() attr.Value { return *v },
		set: func(a attr.Value) bool {
			t, ok := a.(T)
			if ok {
				*v = t
			}
			return ok
		},
	}
}

// metadataFields binds the labels and annotations every object resource has.
func metadataFields(labels, annotations *types.Map) []kubeField {
	return []kubeField{bind(labels, "metadata", "labels"), bind(annotations, "metadata", "annotations")}
}

// writeFields writes the value of each field into obj, leaving out null ones. complete is false
// while some are unknown, which are left out too.
func writeFields(ctx context.Context, obj map[string]any, fields []kubeField) (complete bool, err error) {
	complete = true
	for _, f := range fields {
		j, ok, err := valueToJSON(ctx, f.get())
		if err != nil {
			return false, fmt.Errorf("%s: %w", strings.Join(f.path, "."), err)
		}
		complete = complete && ok
		if j != nil {
			setField(obj, j, f.path...)
		}
	}
	return complete, nil
}

// setField sets obj's field at path, creating the objects on the way.
func setField(obj map[string]any, v any, path ...string) {
	for _, key := range path[:len(path)-1] {
		next, ok := obj[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[key] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = v
}

// ownedReader refreshes attributes from the live object. An attribute left null in the prior model
// (the plan after an apply, the state on refresh) stays null unless Terraform's field manager owns
// its field: values other tools or the server set are never drift, while a managed field another
// tool changed or removed is. With readUnowned every field counts as owned (an object the manager
// never applied, just imported, is then read in full).
type ownedReader struct {
	ctx         context.Context
	obj         map[string]any
	owned       kube.OwnedFields
	readUnowned bool
	err         error
}

func newOwnedReader(ctx context.Context, obj *unstructured.Unstructured, owned kube.OwnedFields) *ownedReader {
	return &ownedReader{ctx: ctx, obj: obj.Object, owned: owned}
}

// readFields refreshes each field's attribute.
func (r *ownedReader) readFields(fields []kubeField) {
	for _, f := range fields {
		if !f.set(r.read(f.get(), f.path...)) {
			r.err = fmt.Errorf("%s: unexpected type read back", strings.Join(f.path, "."))
		}
	}
}

func (r *ownedReader) owns(fieldPath ...string) bool {
	return r.readUnowned || r.owned.Has(fieldPath...)
}

// ownsTyped reports whether we own a field a typed attribute of type t covers at the path.
func (r *ownedReader) ownsTyped(t attr.Type, fieldPath []string) bool {
	if obj, ok := t.(types.ObjectType); ok {
		for name, at := range obj.AttrTypes {
			if r.ownsTyped(at, append(fieldPath[:len(fieldPath):len(fieldPath)], kubeFieldName(name))) {
				return true
			}
		}
		return false
	}
	return r.owns(fieldPath...)
}

func (r *ownedReader) read(prior attr.Value, fieldPath ...string) attr.Value {
	t := prior.Type(r.ctx)
	if prior.IsNull() && !r.ownsTyped(t, fieldPath) {
		return prior
	}
	live, found, _ := unstructured.NestedFieldNoCopy(r.obj, fieldPath...)
	_, isMap := t.(types.MapType)
	if (!found || live == nil) && !isMap {
		return nullValue(r.ctx, t)
	}
	switch tt := t.(type) {
	case types.ObjectType:
		// Objects are granular: each attribute follows its own prior value and ownership.
		priorAttrs := map[string]attr.Value{}
		if o, ok := prior.(types.Object); ok && !o.IsNull() && !o.IsUnknown() {
			priorAttrs = o.Attributes()
		}
		attrs := map[string]attr.Value{}
		for name, at := range tt.AttrTypes {
			p := priorAttrs[name]
			if p == nil {
				p = nullValue(r.ctx, at)
			}
			attrs[name] = r.read(p, append(fieldPath[:len(fieldPath):len(fieldPath)], kubeFieldName(name))...)
		}
		return types.ObjectValueMust(tt.AttrTypes, attrs)
	case types.MapType:
		// Maps are granular too: keys others added are not ours to show. An absent map is an
		// empty one, which Kubernetes does not store: `labels = {}` and no labels both read back
		// as configured.
		priorElems := map[string]attr.Value{}
		if m, ok := prior.(types.Map); ok && !m.IsUnknown() {
			priorElems = m.Elements()
		}
		liveMap, _ := live.(map[string]any)
		keep := map[string]any{}
		for k, v := range liveMap {
			if _, inPrior := priorElems[k]; inPrior || r.owns(append(fieldPath[:len(fieldPath):len(fieldPath)], k)...) {
				keep[k] = v
			}
		}
		if len(keep) == 0 && prior.IsNull() {
			return prior
		}
		live = keep
	}
	v, err := valueFromJSON(r.ctx, live, t)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", strings.Join(fieldPath, "."), err)
		return prior
	}
	return v
}

// stringMapValue converts a map of strings, keeping null and empty apart as the prior value had
// them so that `labels = {}` and no labels both read back without a diff.
func stringMapValue(prior types.Map, m map[string]string) types.Map {
	if len(m) == 0 && prior.IsNull() {
		return types.MapNull(types.StringType)
	}
	elems := make(map[string]attr.Value, len(m))
	for k, v := range m {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}
