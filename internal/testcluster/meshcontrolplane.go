package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	// The Istio CRDs come from this module's kubernetes/customresourcedefinitions.gen.yaml, at the
	// version go.mod pins; the import keeps the pin in go.mod (the package itself is a few constants).
	_ "istio.io/api/label"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	sigsyaml "sigs.k8s.io/yaml"
)

// istioModule holds Istio's upstream CRDs (Gateway, VirtualService, ...), which an ASM control plane
// serves.
const istioModule = "istio.io/api"

// MeshControlPlane is a kube-apiserver with its own etcd playing an ASM mesh's control plane: the
// API server ASM's DescribeServiceMeshKubeconfig leads to, holding the mesh's Istio resources. Only
// the CRDs are served, as on ASM's control plane, where no controller of ours runs either (ASM's
// Istio reads them; nothing writes their status that the provider relies on).
type MeshControlPlane struct {
	env     *envtest.Environment
	guard   *orphanGuard
	workDir string
	config  *rest.Config
}

// StartMeshControlPlane starts a control plane from AssetsDir with the Istio CRDs of the pinned
// istio.io/api module.
func StartMeshControlPlane(ctx context.Context) (*MeshControlPlane, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	crds, err := istioCRDs(ctx)
	if err != nil {
		return nil, err
	}
	workDir, err := os.MkdirTemp("", "meshcontrolplane-")
	if err != nil {
		return nil, err
	}
	guard, err := armOrphanGuard(workDir)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(workDir))
	}
	m := &MeshControlPlane{guard: guard, workDir: workDir}
	if m.env, err = newControlPlane(ctx, guard, assets, workDir, crds); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	if m.config, err = m.env.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start the mesh control plane: %w", err), m.Stop())
	}
	return m, nil
}

// RESTConfig returns a copy of an admin client configuration.
func (m *MeshControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(m.config) }

// Kubeconfig is an admin kubeconfig for it, with client certificates as ASM's mesh kubeconfigs carry.
func (m *MeshControlPlane) Kubeconfig() ([]byte, error) {
	path := filepath.Join(m.workDir, "kubeconfig")
	if err := (&Cluster{config: m.config}).WriteKubeconfig(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// Stop stops the apiserver and etcd and removes their files.
func (m *MeshControlPlane) Stop() error {
	var errs []error
	if m.env != nil {
		errs = append(errs, m.env.Stop())
	}
	clean := errors.Join(errs...) == nil
	errs = append(errs, m.guard.release(clean))
	if clean {
		errs = append(errs, os.RemoveAll(m.workDir))
	}
	return errors.Join(errs...)
}

// istioCRDs reads the CRDs of istio.io/api at the version go.mod pins. `go mod download -json`
// downloads the module first when the cache lacks it (as tools/lib.sh's module_dir does).
func istioCRDs(ctx context.Context) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", istioModule)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s: %w\n%s", istioModule, err, stderr.String())
	}
	var module struct{ Dir string }
	if err := json.Unmarshal(out, &module); err != nil || module.Dir == "" {
		return nil, fmt.Errorf("go mod download -json %s gave no folder: %s", istioModule, out)
	}
	path := filepath.Join(module.Dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := sigsyaml.Unmarshal(doc, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if crd.Kind == "CustomResourceDefinition" {
			crds = append(crds, crd)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", path)
	}
	return crds, nil
}
