package provider

import (
	"context"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// An ASM mesh keeps its Istio resources (Gateway, VirtualService) on its own control plane, an API
// server apart from the data-plane cluster. The provider reaches it with its Alibaba Cloud
// credentials alone: ASM's DescribeServiceMeshKubeconfig hands out its kubeconfig.

type meshKubeKey struct {
	meshID  string
	private bool
}

// meshKube returns a client of the mesh's control plane, fetching its kubeconfig on first use. Only
// a client that could be built is kept: a throttled or refused fetch is asked again next time.
func (d *providerData) meshKube(ctx context.Context, meshID string, private bool) (*kube.Client, error) {
	key := meshKubeKey{meshID: meshID, private: private}
	d.meshKubesMu.Lock()
	cached := d.meshKubes[key]
	d.meshKubesMu.Unlock()
	if cached != nil {
		return cached, nil
	}
	asmClient, err := d.ASM()
	if err != nil {
		return nil, err
	}
	kubeconfig, err := asmClient.MeshKubeconfig(ctx, meshID, private)
	if err != nil {
		return nil, err
	}
	base, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig ASM returned for mesh %s (DescribeServiceMeshKubeconfig) cannot be used: %w", meshID, err)
	}
	cfg, err := kube.Config{Base: base, QPS: d.kubeConfig.QPS, Burst: d.kubeConfig.Burst}.RESTConfig()
	if err != nil {
		return nil, err
	}
	client, err := kube.NewWithHints(cfg, meshHints(meshID))
	if err != nil {
		return nil, err
	}
	d.meshKubesMu.Lock()
	defer d.meshKubesMu.Unlock()
	if d.meshKubes == nil {
		d.meshKubes = map[meshKubeKey]*kube.Client{}
	}
	d.meshKubes[key] = client
	return client, nil
}

// meshHints explain failures to reach a mesh's control plane in terms of the mesh, not of the
// provider's kubernetes block.
func meshHints(meshID string) kube.Hints {
	return kube.Hints{
		Unreachable: fmt.Sprintf("Mesh %s's API server is reached at the endpoint in the kubeconfig ASM returned: its public "+
			"endpoint needs the mesh's API server exposed with an EIP (ASM console: the mesh, Basic Information); from inside "+
			"the mesh's VPC, set private_endpoint = true on the resource instead", meshID),
		Unauthorized: fmt.Sprintf("mesh %s refused the kubeconfig ASM returned for the provider's identity, which may have "+
			"been revoked (ASM console: the mesh, Permission Management); run terraform again to fetch a new one", meshID),
	}
}
