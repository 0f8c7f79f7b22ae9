package kube

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Owners lists the field managers, whatever their operation (apply or update), that own the field
// at the given map-key path, or anything below it, on obj (the main resource, not subresources).
func Owners(obj *unstructured.Unstructured, path ...string) ([]string, error) {
	var owners []string
	for _, entry := range obj.GetManagedFields() {
		if entry.Subresource != "" || entry.FieldsV1 == nil || slices.Contains(owners, entry.Manager) {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(entry.FieldsV1.GetRawReader()); err != nil {
			return nil, fmt.Errorf("parsing managedFields of %s for manager %q: %w", obj.GetName(), entry.Manager, err)
		}
		if (OwnedFields{set: set}).Has(path...) {
			owners = append(owners, entry.Manager)
		}
	}
	return owners, nil
}
