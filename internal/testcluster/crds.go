package testcluster

import (
	"fmt"
	"os"
	"path/filepath"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// crdDir holds the KServe CRDs (InferenceService, ServingRuntime, ClusterServingRuntime, and
// ModelMesh's own Predictor) of the pinned github.com/kserve/modelmesh-serving: its config/crd/bases,
// copied by tools/modelmesh/build.sh. The controller built from the same module expects exactly these.
const crdDir = "serving/config/crd/bases"

func crdObjects(modelMeshAssets string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	paths, err := filepath.Glob(filepath.Join(modelMeshAssets, crdDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", filepath.Join(modelMeshAssets, crdDir))
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", path, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// InstallCRDs installs the KServe CRDs from modelMeshAssets (ModelMeshAssetsDir) on an existing
// cluster (kind, for the acceptance suite run against it) and waits until they are served.
func InstallCRDs(cfg *rest.Config, modelMeshAssets string) error {
	crds, err := crdObjects(modelMeshAssets)
	if err != nil {
		return err
	}
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: crds})
	return err
}
