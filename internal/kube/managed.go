package kube

import (
	"bytes"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// OwnedFields is the set of fields one field manager applied to an object. Drift detection and
// import use it to tell the fields Terraform manages from those other tools or the server set.
type OwnedFields struct {
	set *fieldpath.Set
}

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
		if err := fields.FromJSON(bytes.NewReader(entry.FieldsV1.Raw)); err != nil {
			return OwnedFields{}, fmt.Errorf("parsing managedFields of %s for manager %q: %w", obj.GetName(), manager, err)
		}
		set = set.Union(fields)
	}
	return OwnedFields{set: set}, nil
}

// Has reports whether the field at the given map-key path, or anything below it, is owned.
func (o OwnedFields) Has(path ...string) bool {
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
