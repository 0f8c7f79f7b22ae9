package asmfake

import (
	"time"
)

// call is one authenticated request, handed to an action with the server's lock held.
type call struct {
	params    map[string]string
	requestID string
	now       time.Time
}

type action struct {
	required []string
	serve    func(s *Server, c call) (any, *apiError)
}

// actions are the servicemesh actions the fake serves; any other answers InvalidAction.NotFound.
var actions = map[string]action{
	"DescribeServiceMeshDetail":     {[]string{"ServiceMeshId"}, (*Server).describeServiceMeshDetail},
	"DescribeServiceMeshes":         {nil, (*Server).describeServiceMeshes},
	"DescribeClustersInServiceMesh": {[]string{"ServiceMeshId"}, (*Server).describeClustersInServiceMesh},
	"AddClusterIntoServiceMesh":     {[]string{"ServiceMeshId", "ClusterId"}, (*Server).addClusterIntoServiceMesh},
	"RemoveClusterFromServiceMesh":  {[]string{"ServiceMeshId", "ClusterId"}, (*Server).removeClusterFromServiceMesh},
	"DescribeServiceMeshKubeconfig": {[]string{"ServiceMeshId"}, (*Server).describeServiceMeshKubeconfig},
}

func (s *Server) describeServiceMeshDetail(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	return describeServiceMeshDetailResponse{RequestID: c.requestID, ServiceMesh: s.wireMesh(m)}, nil
}

// describeServiceMeshes lists every mesh whatever the request's RegionId: the fake reports regions
// but does not partition by them.
func (s *Server) describeServiceMeshes(c call) (any, *apiError) {
	meshes := []wireServiceMesh{}
	for _, m := range s.sortedMeshes() {
		meshes = append(meshes, s.wireMesh(m))
	}
	return describeServiceMeshesResponse{RequestID: c.requestID, ServiceMeshes: meshes}, nil
}

func (s *Server) describeClustersInServiceMesh(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	clusters := []wireCluster{}
	for _, mem := range m.members {
		clusters = append(clusters, wireClusterOf(s.memberCluster(mem)))
	}
	return describeClustersInServiceMeshResponse{RequestID: c.requestID, Clusters: clusters}, nil
}

func (s *Server) addClusterIntoServiceMesh(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	if failure := s.acceptsChanges(m); failure != nil {
		return nil, failure
	}
	clusterID := c.params["ClusterId"]
	cluster, ok := s.clusters[clusterID]
	if !ok {
		return nil, newError(CodeNotFound, "Not found: cluster %s.", clusterID)
	}
	if owner := s.meshOf(clusterID); owner != "" {
		return nil, s.refuse(RefusalClusterInMesh, "Cluster %s has already been added to a service mesh.", clusterID)
	}
	if cluster.VpcID != m.VpcID {
		return nil, s.refuse(RefusalVpcMismatch, "Cluster %s is in VPC %s, but service mesh %s is in VPC %s.",
			clusterID, cluster.VpcID, m.ID, m.VpcID)
	}
	mem := &member{clusterID: clusterID, state: ClusterStarting, updateTime: c.now, settlesAt: c.now.Add(s.opts.AttachDelay)}
	m.members = append(m.members, mem)
	s.startUpdate(m, mem, c.now)
	return changeResponse(c.requestID), nil
}

// removeClusterFromServiceMesh starts a removal. The mesh is busy until it is done, so asking again
// meanwhile is refused like any change to a busy mesh; once the cluster is gone it answers ERR404.
func (s *Server) removeClusterFromServiceMesh(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	if failure := s.acceptsChanges(m); failure != nil {
		return nil, failure
	}
	clusterID := c.params["ClusterId"]
	for _, mem := range m.members {
		if mem.clusterID != clusterID {
			continue
		}
		mem.state, mem.errorMessage, mem.updateTime = ClusterStopping, "", c.now
		mem.settlesAt = c.now.Add(s.opts.DetachDelay)
		s.startUpdate(m, mem, c.now)
		return changeResponse(c.requestID), nil
	}
	return nil, newError(CodeNotFound, "Not found: cluster %s in service mesh %s.", clusterID, m.ID)
}

// startUpdate makes the mesh busy while a cluster joins or leaves it: ASM's console shows the
// instance "Updating" after a cluster is added, and the alicloud provider waits for
// ServiceMeshInfo.State to be running again after every add and remove
// (aliyun/terraform-provider-alicloud, alicloud/resource_alicloud_service_mesh_service_mesh.go).
func (s *Server) startUpdate(m *meshState, mem *member, now time.Time) {
	m.State, m.ErrorMessage, m.UpdateTime = MeshUpdating, "", now
	m.updateDoneAt = mem.settlesAt.Add(s.opts.MeshUpdateDelay)
}

// changeResponse is the success answer of AddClusterIntoServiceMesh and RemoveClusterFromServiceMesh,
// as their API reference shows it.
func changeResponse(requestID string) changeAnswer {
	return changeAnswer{RequestID: requestID, Code: 200, Message: "success"}
}

func (s *Server) lookupMesh(id string) (*meshState, *apiError) {
	m, ok := s.meshes[id]
	if !ok {
		return nil, newError(CodeServiceMeshNotFound, "ServiceMesh %s not found", id)
	}
	return m, nil
}

// acceptsChanges refuses to change a mesh that is not running. ASM documents StillInitializing for
// a mesh being created; for any other state (updating while a cluster joins or leaves, upgrading,
// failed) the code is not documented.
func (s *Server) acceptsChanges(m *meshState) *apiError {
	switch m.State {
	case MeshRunning:
		return nil
	case MeshInitial:
		return newError(CodeStillInitializing, "ServiceMesh %s is still initializing.", m.ID)
	}
	return s.refuse(RefusalMeshBusy, "ServiceMesh %s is %s; it can be changed only when running.", m.ID, m.State)
}
