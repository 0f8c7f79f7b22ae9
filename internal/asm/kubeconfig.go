package asm

import (
	"context"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
)

// MeshKubeconfig returns the kubeconfig of a mesh's control plane (its Istio resources: Gateway,
// VirtualService, ...), from DescribeServiceMeshKubeconfig; private selects the intranet API server
// endpoint. A mesh that does not exist gives an error for which IsNotFound is true; a missing RAM
// permission one for which IsPermissionDenied is true, whose hint names servicemesh:DescribeServiceMeshKubeconfig.
func (c *Client) MeshKubeconfig(ctx context.Context, meshID string, private bool) (string, error) {
	req := servicemesh.CreateDescribeServiceMeshKubeconfigRequest()
	req.ServiceMeshId = meshID
	req.PrivateIpAddress = requests.NewBoolean(private)
	resp, err := invoke(ctx, c, "DescribeServiceMeshKubeconfig", (*servicemesh.Client).DescribeServiceMeshKubeconfig, req)
	if err != nil {
		return "", err
	}
	if resp.Kubeconfig == "" {
		return "", &Error{Action: "DescribeServiceMeshKubeconfig", RequestID: resp.RequestId,
			Message: fmt.Sprintf("the answer for mesh %s holds no kubeconfig", meshID)}
	}
	return resp.Kubeconfig, nil
}
