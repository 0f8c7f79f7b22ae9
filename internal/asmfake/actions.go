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
	"DescribeUpgradeVersion":        {[]string{"ServiceMeshId"}, (*Server).describeUpgradeVersion},
	"UpgradeMeshVersion":            {[]string{"ServiceMeshId"}, (*Server).upgradeMeshVersion},
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
	if failure := acceptsChanges(m); failure != nil {
		return nil, failure
	}
	clusterID := c.params["ClusterId"]
	cluster, ok := s.clusters[clusterID]
	if !ok {
		return nil, newError(CodeClusterNotFound, "Cluster %s is not found.", clusterID)
	}
	if owner := s.meshOf(clusterID); owner != "" {
		return nil, newError(CodeClusterAlreadyAdded, "Cluster %s has already been added to service mesh %s.", clusterID, owner)
	}
	if cluster.VpcID != m.VpcID {
		return nil, newError(CodeVpcNotMatch, "Cluster %s is in VPC %s, but service mesh %s is in VPC %s.",
			clusterID, cluster.VpcID, m.ID, m.VpcID)
	}
	m.members = append(m.members, &member{
		clusterID:  clusterID,
		state:      ClusterStarting,
		updateTime: c.now,
		settlesAt:  c.now.Add(s.opts.AttachDelay),
	})
	return requestIDResponse{RequestID: c.requestID}, nil
}

// removeClusterFromServiceMesh starts a removal; asking again while the cluster is stopping
// succeeds without restarting the delay, so a retried call after a lost answer is harmless.
func (s *Server) removeClusterFromServiceMesh(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	if failure := acceptsChanges(m); failure != nil {
		return nil, failure
	}
	clusterID := c.params["ClusterId"]
	for _, mem := range m.members {
		if mem.clusterID != clusterID {
			continue
		}
		if mem.state != ClusterStopping {
			mem.state, mem.errorMessage, mem.updateTime = ClusterStopping, "", c.now
			mem.settlesAt = c.now.Add(s.opts.DetachDelay)
		}
		return requestIDResponse{RequestID: c.requestID}, nil
	}
	return nil, newError(CodeClusterNotFound, "Cluster %s is not found in service mesh %s.", clusterID, m.ID)
}

func (s *Server) describeServiceMeshKubeconfig(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	private := false
	switch c.params["PrivateIpAddress"] {
	case "", "false":
	case "true":
		private = true
	default:
		return nil, newError(CodeInvalidParameter, "The specified parameter PrivateIpAddress is not valid.")
	}
	kubeconfig := m.Kubeconfig
	if kubeconfig == "" {
		server := m.Endpoints.PublicAPIServer
		if private || server == "" {
			server = m.Endpoints.IntranetAPIServer
		}
		kubeconfig = s.generatedKubeconfig(m.ID, server)
	}
	return describeServiceMeshKubeconfigResponse{RequestID: c.requestID, Kubeconfig: kubeconfig}, nil
}

// describeUpgradeVersion offers the version an upgrade moves to, or the current one when there is none.
func (s *Server) describeUpgradeVersion(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	target := m.UpgradeVersion
	if target == "" {
		target = m.Version
	}
	return describeUpgradeVersionResponse{RequestID: c.requestID, Version: wireVersion{
		IstioVersion:         target,
		IstioOperatorVersion: target,
		KubernetesVersion:    m.KubernetesVersion,
	}}, nil
}

func (s *Server) upgradeMeshVersion(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	if failure := acceptsChanges(m); failure != nil {
		return nil, failure
	}
	if m.UpgradeVersion == "" {
		return nil, newError(CodeAlreadyLatestVersion, "ServiceMesh %s is already at the latest version %s.", m.ID, m.Version)
	}
	m.State, m.ErrorMessage, m.UpdateTime = MeshUpgrading, "", c.now
	m.upgradeDoneAt = c.now.Add(s.opts.UpgradeDelay)
	return requestIDResponse{RequestID: c.requestID}, nil
}

func (s *Server) lookupMesh(id string) (*meshState, *apiError) {
	m, ok := s.meshes[id]
	if !ok {
		return nil, newError(CodeServiceMeshNotFound, "ServiceMesh %s not found", id)
	}
	return m, nil
}

// acceptsChanges refuses to change a mesh that is not running.
func acceptsChanges(m *meshState) *apiError {
	switch m.State {
	case MeshRunning:
		return nil
	case MeshInitial:
		return newError(CodeStillInitializing, "ServiceMesh %s is still initializing.", m.ID)
	}
	return newError(CodeMeshNotRunning, "ServiceMesh %s is %s; it can be changed only when running.", m.ID, m.State)
}
