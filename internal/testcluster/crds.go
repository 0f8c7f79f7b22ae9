package testcluster

import (
	"embed"
	"fmt"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// crdFiles are the project's own KServe CRDs: structural schemas that follow upstream kserve for
// every field the provider manages, and keep the deep Kubernetes sub-objects (probes, affinity,
// volume sources...) as preserved objects.
//
//go:embed crds/*.yaml
var crdFiles embed.FS

func crdObjects() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	paths, err := fs.Glob(crdFiles, "crds/*.yaml")
	if err != nil {
		return nil, err
	}
	crds := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(paths))
	for _, path := range paths {
		data, err := crdFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("CRD fixture %s: %w", path, err)
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// InstallCRDs installs the project's CRD fixtures on an existing cluster (kind, for the acceptance
// suite run against it) and waits until they are served.
func InstallCRDs(cfg *rest.Config) error {
	crds, err := crdObjects()
	if err != nil {
		return err
	}
	_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: crds})
	return err
}
