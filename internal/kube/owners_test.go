package kube

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestOwners(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, subresource, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: subresource,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	obj.SetManagedFields([]metav1.ManagedFieldsEntry{
		entry("terraform", metav1.ManagedFieldsOperationApply, "", `{"f:data":{"f:a":{}}}`),
		entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, "", `{"f:data":{"f:a":{},"f:b":{}}}`),
		entry("other-applier", metav1.ManagedFieldsOperationApply, "", `{"f:data":{"f:b":{}}}`),
		entry("controller", metav1.ManagedFieldsOperationUpdate, "status", `{"f:data":{"f:a":{}}}`),
	})
	for key, want := range map[string][]string{"a": {"terraform", "kubectl-edit"}, "b": {"kubectl-edit", "other-applier"}, "c": nil} {
		got, err := Owners(obj, "data", key)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("owners of data.%s: got %v (err %v), want %v", key, got, err, want)
		}
	}
}
