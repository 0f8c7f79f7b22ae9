package kube

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// MergePatch applies a JSON merge patch (RFC 7386) and returns the result. Unlike server-side
// apply, it can remove a field that other field managers also own.
func (c *Client) MergePatch(ctx context.Context, r Ref, patch []byte, fieldManager string) (*unstructured.Unstructured, error) {
	out, err := retryTransient(ctx, func() (*unstructured.Unstructured, error) {
		return c.resource(r).Patch(ctx, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	})
	if err != nil {
		return nil, explain(r, "patching", err)
	}
	return out, nil
}
