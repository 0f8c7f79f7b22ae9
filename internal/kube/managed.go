package kube

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// OwnedFields is the set of fields one field manager applied to an object. Drift detection and
// import use it to tell the fields Terraform manages from those other tools or the server set.
type OwnedFields struct {
	set *fieldpath.Set
	all bool
}

// AllFields owns every field: a data source reads an object in full, whoever wrote it.
func AllFields() OwnedFields { return OwnedFields{all: true} }

// Owned returns the fields that manager owns through server-side apply on obj (the main
// resource, not subresources). An object the manager never applied owns nothing.
func Owned(obj *unstructured.Unstructured, manager string) (OwnedFields, error) {
	set := &fieldpath.Set{}
	for _, entry := range obj.GetManagedFields() {
		if entry.Manager != manager || entry.Operation != metav1.ManagedFieldsOperationApply ||
			entry.Subresource != "" || entry.FieldsV1 == nil {
			continue
		}
		fields := &fieldpath.Set{}
		if err := fields.FromJSON(entry.FieldsV1.GetRawReader()); err != nil {
			return OwnedFields{}, fmt.Errorf("parsing managedFields of %s for manager %q: %w", obj.GetName(), manager, err)
		}
		set = set.Union(fields)
	}
	return OwnedFields{set: set}, nil
}

// None reports that the manager owns no field: it never applied the object.
func (o OwnedFields) None() bool {
	return !o.all && (o.set == nil || o.set.Empty())
}

// Has reports whether the field at the given map-key path, or anything below it, is owned.
func (o OwnedFields) Has(path ...string) bool {
	if o.all {
		return true
	}
	if o.set == nil {
		return false
	}
	s := o.set
	for i, key := range path {
		pe := fieldpath.PathElement{FieldName: &key}
		if i == len(path)-1 && s.Members.Has(pe) {
			return true
		}
		s = s.WithPrefix(pe)
	}
	return !s.Empty()
}

// Extract returns the part of v, the live value found at path, that the manager owns: nil when it
// owns nothing there, all of v where it owns a field as a whole (a scalar, an atomic list or map),
// and only the owned keys of granular maps. Lists are treated as atomic: one owned item keeps the
// whole list. Import uses it to tell what Terraform applied from what others added.
func (o OwnedFields) Extract(v any, path ...string) any {
	if o.all {
		return v
	}
	if o.set == nil {
		return nil
	}
	s := o.set
	for _, key := range path {
		pe := fieldpath.PathElement{FieldName: &key}
		if s.Members.Has(pe) {
			return v
		}
		s = s.WithPrefix(pe)
	}
	return extractOwned(v, s)
}

func extractOwned(v any, s *fieldpath.Set) any {
	if s.Empty() {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for key, sub := range m {
		pe := fieldpath.PathElement{FieldName: &key}
		if s.Members.Has(pe) {
			out[key] = sub
		} else if owned := extractOwned(sub, s.WithPrefix(pe)); owned != nil {
			out[key] = owned
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
