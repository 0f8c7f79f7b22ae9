package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The runtime's object: the spec built from the typed attributes, and the read-back that decides
// what is drift.

// specFields binds the typed attributes to the fields of the runtime's spec. Labels and
// annotations are metadataFields; image_pull_secrets, affinity and spec_overrides_json, which are
// not one field each, are mapped on their own.
func (m *runtimeModel) specFields() []kubeField {
	return []kubeField{
		bind(&m.SupportedModelFormats, "spec", "supportedModelFormats"),
		bind(&m.MultiModel, "spec", "multiModel"),
		bind(&m.Disabled, "spec", "disabled"),
		bind(&m.ProtocolVersions, "spec", "protocolVersions"),
		bind(&m.GRPCEndpoint, "spec", "grpcEndpoint"),
		bind(&m.GRPCDataEndpoint, "spec", "grpcDataEndpoint"),
		bind(&m.HTTPDataEndpoint, "spec", "httpDataEndpoint"),
		bind(&m.Replicas, "spec", "replicas"),
		bind(&m.StorageHelperDisabled, "spec", "storageHelper", "disabled"),
		bind(&m.BuiltInAdapter, "spec", "builtInAdapter"),
		bind(&m.Containers, "spec", "containers"),
		bind(&m.Volumes, "spec", "volumes"),
		bind(&m.NodeSelector, "spec", "nodeSelector"),
		bind(&m.Tolerations, "spec", "tolerations"),
		bind(&m.PodLabels, "spec", "labels"),
		bind(&m.PodAnnotations, "spec", "annotations"),
	}
}

// expandRuntimeSpec builds spec from the typed attributes. complete is false while some are unknown.
func expandRuntimeSpec(ctx context.Context, m runtimeModel) (spec map[string]any, complete bool, err error) {
	obj := map[string]any{"spec": map[string]any{}}
	// Affinity is written whole; it is read back by ownership below.
	if complete, err = writeFields(ctx, obj, append(m.specFields(), bind(&m.Affinity, "spec", "affinity"))); err != nil {
		return nil, false, err
	}
	spec, _ = obj["spec"].(map[string]any)
	if !m.ImagePullSecrets.IsNull() && !m.ImagePullSecrets.IsUnknown() {
		secrets := []any{}
		for _, e := range m.ImagePullSecrets.Elements() {
			if s, ok := e.(types.String); ok && !s.IsUnknown() {
				secrets = append(secrets, map[string]any{"name": s.ValueString()})
			} else {
				complete = false
			}
		}
		spec["imagePullSecrets"] = secrets
	} else if m.ImagePullSecrets.IsUnknown() {
		complete = false
	}
	return spec, complete, nil
}

// runtimeObject is the object to apply.
func runtimeObject(ctx context.Context, kind kube.Kind, m runtimeModel, namespace string) (*unstructured.Unstructured, error) {
	spec, complete, err := expandRuntimeSpec(ctx, m)
	if err != nil {
		return nil, err
	}
	if !complete {
		return nil, fmt.Errorf("some attributes are still unknown at apply time; please report this bug")
	}
	overrides, err := m.SpecOverridesJSON.object()
	if err != nil {
		return nil, fmt.Errorf("spec_overrides_json: %w", err)
	}
	if err := mergeSpecOverrides(spec, overrides, false); err != nil {
		return nil, fmt.Errorf("spec_overrides_json: %w", err)
	}
	metadata := map[string]any{"name": m.Name.ValueString()}
	if namespace != "" {
		metadata["namespace"] = namespace
	}
	obj := map[string]any{"apiVersion": kind.APIVersion(), "kind": kind.Kind, "metadata": metadata, "spec": spec}
	if _, err := writeFields(ctx, obj, metadataFields(&m.Labels, &m.Annotations)); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// readRuntime updates m, holding the prior values, from the live object.
func readRuntime(ctx context.Context, m *runtimeModel, obj *unstructured.Unstructured, owned kube.OwnedFields) error {
	importing := m.Containers.IsNull() && m.MLServer.IsNull()
	r := newOwnedReader(ctx, obj, owned)
	r.readFields(append(metadataFields(&m.Labels, &m.Annotations), m.specFields()...))
	if r.err != nil {
		return r.err
	}

	if !m.ImagePullSecrets.IsNull() || owned.Has("spec", "imagePullSecrets") {
		secrets, _, _ := unstructured.NestedSlice(obj.Object, "spec", "imagePullSecrets")
		if secrets == nil {
			m.ImagePullSecrets = types.ListNull(types.StringType)
		} else {
			names := make([]attr.Value, 0, len(secrets))
			for _, s := range secrets {
				name, _ := s.(map[string]any)["name"].(string)
				names = append(names, types.StringValue(name))
			}
			m.ImagePullSecrets = types.ListValueMust(types.StringType, names)
		}
	}

	// Affinity is one attribute over a granular object: read back only the parts we own, or all of
	// it once someone else took them over.
	liveAffinity, _, _ := unstructured.NestedMap(obj.Object, "spec", "affinity")
	if ownedAffinity, _ := owned.Extract(liveAffinity, "spec", "affinity").(map[string]any); ownedAffinity != nil {
		liveAffinity = ownedAffinity
	} else if m.Affinity.IsNull() {
		liveAffinity = nil
	}
	affinity, err := jsonObjectOf(liveAffinity)
	if err != nil {
		return fmt.Errorf("spec.affinity: %w", err)
	}
	m.Affinity = affinity

	liveSpec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	var overrides map[string]any
	switch {
	case importing:
		ownedSpec, _ := owned.Extract(liveSpec, "spec").(map[string]any)
		if r := residualSpec(ownedSpec, specShape); len(r) > 0 {
			overrides = r
		}
		if containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "containers"); len(containers) == 1 && owned.Has("spec", "containers") {
			if c, ok := containers[0].(map[string]any); ok {
				m.MLServer, _ = detectMLServer(ctx, c)
			}
		}
	case !m.SpecOverridesJSON.IsNull():
		prior, err := m.SpecOverridesJSON.object()
		if err != nil {
			return fmt.Errorf("spec_overrides_json: %w", err)
		}
		overrides = projectOverrides(liveSpec, prior, specShape)
	}
	if overrides != nil {
		v, err := jsonObjectOf(overrides)
		if err != nil {
			return fmt.Errorf("spec_overrides_json: %w", err)
		}
		m.SpecOverridesJSON = v
	}
	return nil
}
