package asm

import (
	"context"
	"fmt"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
)

// Mesh states, as ServiceMeshInfo.State reports them (ASM's docs and the alicloud provider name
// these; see MeshStateFailed for the failure states).
const (
	MeshRunning   = "running"
	MeshInitial   = "initial"
	MeshUpgrading = "upgrading"
	// MeshUpdating is a mesh while a cluster joins or leaves it: normal operation, and the mesh
	// refuses other changes until it is running again.
	MeshUpdating = "updating"
)

// MeshStateTransitional reports whether a mesh in this state is busy and will be running again
// by itself: being created, upgraded, or changed by a cluster joining or leaving it.
func MeshStateTransitional(state string) bool {
	return state == MeshInitial || state == MeshUpgrading || state == MeshUpdating
}

// MeshStateFailed reports whether a mesh in this state needs repair: "failed", "create_timeout" and
// the "<operation>_failed" states ("upgrading_failed", "updating_failed").
func MeshStateFailed(state string) bool {
	return state == "failed" || strings.HasSuffix(state, "_failed") || strings.HasSuffix(state, "_timeout")
}

// States of a cluster in a mesh, as DescribeClustersInServiceMesh reports them.
const (
	ClusterRunning  = "running"
	ClusterStarting = "starting"
	ClusterStopping = "stopping"
	ClusterStopped  = "stopped"
	ClusterFailed   = "failed"
)

// Mesh is an ASM instance as DescribeServiceMeshDetail reports it.
type Mesh struct {
	ID           string
	Name         string
	RegionID     string
	State        string
	ErrorMessage string
	// Version is the raw string, e.g. "v1.22.6.71-g7d67a80b-aliyun"; see ParseVersion.
	Version    string
	VpcID      string
	ClusterIDs []string
	Endpoints  Endpoints
}

// Endpoints are a mesh's control-plane addresses; the public ones are empty without an EIP.
type Endpoints struct {
	IntranetAPIServer string
	PublicAPIServer   string
	IntranetPilot     string
	PublicPilot       string
}

// Cluster is a Kubernetes cluster as a mesh sees it.
type Cluster struct {
	ID           string
	Name         string
	Type         string
	RegionID     string
	State        string
	ErrorMessage string
	// KubernetesVersion is the cluster's, e.g. "1.30.1-aliyun.1".
	KubernetesVersion string
	VpcID             string
}

// DescribeMesh reads a mesh. A mesh that does not exist gives an error for which IsNotFound is true.
func (c *Client) DescribeMesh(ctx context.Context, meshID string) (*Mesh, error) {
	req := servicemesh.CreateDescribeServiceMeshDetailRequest()
	req.ServiceMeshId = meshID
	resp, err := invoke(ctx, c, "DescribeServiceMeshDetail", (*servicemesh.Client).DescribeServiceMeshDetail, req)
	if err != nil {
		return nil, err
	}
	m := resp.ServiceMesh
	info := m.ServiceMeshInfo
	return &Mesh{
		ID:           info.ServiceMeshId,
		Name:         info.Name,
		RegionID:     info.RegionId,
		State:        info.State,
		ErrorMessage: info.ErrorMessage,
		Version:      info.Version,
		VpcID:        m.Spec.Network.VpcId,
		ClusterIDs:   m.Clusters,
		Endpoints: Endpoints{
			IntranetAPIServer: m.Endpoints.IntranetApiServerEndpoint,
			PublicAPIServer:   m.Endpoints.PublicApiServerEndpoint,
			IntranetPilot:     m.Endpoints.IntranetPilotEndpoint,
			PublicPilot:       m.Endpoints.PublicPilotEndpoint,
		},
	}, nil
}

// ListClusters reads the clusters in a mesh with one call.
func (c *Client) ListClusters(ctx context.Context, meshID string) ([]Cluster, error) {
	clusters, _, err := c.listClusters(ctx, meshID)
	return clusters, err
}

// GetCluster reads one cluster of a mesh with one call. A cluster that is not in the mesh, or a
// mesh that does not exist, gives an error for which IsNotFound is true.
func (c *Client) GetCluster(ctx context.Context, meshID, clusterID string) (*Cluster, error) {
	cluster, _, err := c.getCluster(ctx, meshID, clusterID)
	return cluster, err
}

// getCluster is GetCluster that also returns the request ID of its call, for waiters to report.
func (c *Client) getCluster(ctx context.Context, meshID, clusterID string) (*Cluster, string, error) {
	clusters, requestID, err := c.listClusters(ctx, meshID)
	if err != nil {
		return nil, RequestID(err), err
	}
	for i := range clusters {
		if clusters[i].ID == clusterID {
			return &clusters[i], requestID, nil
		}
	}
	return nil, requestID, &Error{
		Action:    "DescribeClustersInServiceMesh",
		Kind:      NotFound,
		RequestID: requestID,
		Message:   fmt.Sprintf("cluster %s is not in mesh %s", clusterID, meshID),
	}
}

func (c *Client) listClusters(ctx context.Context, meshID string) ([]Cluster, string, error) {
	req := servicemesh.CreateDescribeClustersInServiceMeshRequest()
	req.ServiceMeshId = meshID
	resp, err := invoke(ctx, c, "DescribeClustersInServiceMesh", (*servicemesh.Client).DescribeClustersInServiceMesh, req)
	if err != nil {
		return nil, "", err
	}
	clusters := make([]Cluster, 0, len(resp.Clusters))
	for _, cl := range resp.Clusters {
		clusters = append(clusters, Cluster{
			ID:                cl.ClusterId,
			Name:              cl.Name,
			Type:              cl.ClusterType,
			RegionID:          cl.RegionId,
			State:             cl.State,
			ErrorMessage:      cl.ErrorMessage,
			KubernetesVersion: cl.Version,
			VpcID:             cl.VpcId,
		})
	}
	return clusters, resp.RequestId, nil
}
