package kube

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestOwnedExtract(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	obj.SetManagedFields([]metav1.ManagedFieldsEntry{{
		Manager: "tf", Operation: metav1.ManagedFieldsOperationApply,
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:containers":{},"f:nodeSelector":{"f:ours":{}},` +
			`"f:affinity":{"f:nodeAffinity":{"f:required":{}}}}}`),
	}})
	owned, err := Owned(obj, "tf")
	if err != nil {
		t.Fatal(err)
	}
	spec := map[string]any{
		"containers":   []any{map[string]any{"name": "c", "image": "i"}},
		"nodeSelector": map[string]any{"ours": "a", "theirs": "b"},
		"affinity": map[string]any{"nodeAffinity": map[string]any{
			"required":  map[string]any{"terms": []any{"x"}},
			"preferred": []any{"theirs"},
		}},
		"replicas": int64(3),
	}
	want := map[string]any{
		"containers":   spec["containers"],
		"nodeSelector": map[string]any{"ours": "a"},
		"affinity":     map[string]any{"nodeAffinity": map[string]any{"required": map[string]any{"terms": []any{"x"}}}},
	}
	if got := owned.Extract(spec, "spec"); !reflect.DeepEqual(got, want) {
		t.Errorf("Extract(spec):\n got %v\nwant %v", got, want)
	}
	// Below a field owned as a whole, everything is owned.
	if got := owned.Extract(map[string]any{"a": 1}, "spec", "containers"); !reflect.DeepEqual(got, map[string]any{"a": 1}) {
		t.Errorf("Extract below an owned field: %v", got)
	}
	if got := owned.Extract(int64(3), "spec", "replicas"); got != nil {
		t.Errorf("Extract of a field owned by nobody: %v", got)
	}
}

func TestAllFields(t *testing.T) {
	all := AllFields()
	if !all.Has() || !all.Has("spec", "replicas") {
		t.Error("AllFields owns not every field")
	}
	spec := map[string]any{"replicas": int64(3)}
	if got := all.Extract(spec, "spec"); !reflect.DeepEqual(got, spec) {
		t.Errorf("Extract: %v, want all of %v", got, spec)
	}
}
