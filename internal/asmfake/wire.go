package asmfake

import "time"

// The answer bodies below carry the JSON names of the SDK's services/servicemesh response structs.

// wireTimeZone is UTC+8, the zone the service's documented timestamps are written in.
var wireTimeZone = time.FixedZone("CST", 8*60*60)

func wireTime(t time.Time) string { return t.In(wireTimeZone).Format(time.RFC3339) }

// changeAnswer is the body of a successful AddClusterIntoServiceMesh or RemoveClusterFromServiceMesh.
type changeAnswer struct {
	RequestID string `json:"RequestId"`
	Code      int    `json:"Code"`
	Message   string `json:"Message"`
}

type describeServiceMeshDetailResponse struct {
	RequestID   string          `json:"RequestId"`
	ServiceMesh wireServiceMesh `json:"ServiceMesh"`
}

type describeServiceMeshesResponse struct {
	RequestID     string            `json:"RequestId"`
	ServiceMeshes []wireServiceMesh `json:"ServiceMeshes"`
}

type describeClustersInServiceMeshResponse struct {
	RequestID string        `json:"RequestId"`
	Clusters  []wireCluster `json:"Clusters"`
}

type wireServiceMesh struct {
	Clusters        []string      `json:"Clusters"`
	ServiceMeshInfo wireMeshInfo  `json:"ServiceMeshInfo"`
	Spec            wireSpec      `json:"Spec"`
	Endpoints       wireEndpoints `json:"Endpoints"`
}

type wireMeshInfo struct {
	Name          string `json:"Name"`
	ServiceMeshID string `json:"ServiceMeshId"`
	RegionID      string `json:"RegionId"`
	State         string `json:"State"`
	UpdateTime    string `json:"UpdateTime"`
	ErrorMessage  string `json:"ErrorMessage"`
	Version       string `json:"Version"`
	CreationTime  string `json:"CreationTime"`
}

type wireSpec struct {
	MeshConfig   wireMeshConfig   `json:"MeshConfig"`
	Network      wireNetwork      `json:"Network"`
	LoadBalancer wireLoadBalancer `json:"LoadBalancer"`
}

// wireMeshConfig holds the settings of a mesh created with the console's defaults; the fake does not
// model changing them.
type wireMeshConfig struct {
	IncludeIPRanges       string `json:"IncludeIPRanges"`
	OutboundTrafficPolicy string `json:"OutboundTrafficPolicy"`
	Telemetry             bool   `json:"Telemetry"`
	Tracing               bool   `json:"Tracing"`
	Mtls                  bool   `json:"Mtls"`
	StrictMtls            bool   `json:"StrictMtls"`
	CustomizedZipkin      bool   `json:"CustomizedZipkin"`
	EnableLocalityLB      bool   `json:"EnableLocalityLB"`
}

type wireNetwork struct {
	SecurityGroupID string   `json:"SecurityGroupId"`
	VpcID           string   `json:"VpcId"`
	VSwitches       []string `json:"VSwitches"`
}

type wireLoadBalancer struct {
	APIServerLoadbalancerID   string `json:"ApiServerLoadbalancerId"`
	APIServerPublicEip        bool   `json:"ApiServerPublicEip"`
	PilotPublicLoadbalancerID string `json:"PilotPublicLoadbalancerId"`
	PilotPublicEip            bool   `json:"PilotPublicEip"`
}

type wireEndpoints struct {
	IntranetAPIServerEndpoint string `json:"IntranetApiServerEndpoint"`
	PublicAPIServerEndpoint   string `json:"PublicApiServerEndpoint"`
	IntranetPilotEndpoint     string `json:"IntranetPilotEndpoint"`
	PublicPilotEndpoint       string `json:"PublicPilotEndpoint"`
	ReverseTunnelEndpoint     string `json:"ReverseTunnelEndpoint"`
}

type wireCluster struct {
	ClusterID     string `json:"ClusterId"`
	ClusterType   string `json:"ClusterType"`
	CreationTime  string `json:"CreationTime"`
	ErrorMessage  string `json:"ErrorMessage"`
	Name          string `json:"Name"`
	RegionID      string `json:"RegionId"`
	State         string `json:"State"`
	UpdateTime    string `json:"UpdateTime"`
	Version       string `json:"Version"`
	VpcID         string `json:"VpcId"`
	SgID          string `json:"SgId"`
	ClusterDomain string `json:"ClusterDomain"`
}

func (s *Server) wireMesh(m *meshState) wireServiceMesh {
	clusters := []string{}
	for _, mem := range m.members {
		clusters = append(clusters, mem.clusterID)
	}
	loadBalancerSuffix := m.ID[len(m.ID)-min(len(m.ID), 20):]
	return wireServiceMesh{
		Clusters: clusters,
		ServiceMeshInfo: wireMeshInfo{
			Name:          m.Name,
			ServiceMeshID: m.ID,
			RegionID:      m.RegionID,
			State:         m.State,
			UpdateTime:    wireTime(m.UpdateTime),
			ErrorMessage:  m.ErrorMessage,
			Version:       m.Version,
			CreationTime:  wireTime(m.CreationTime),
		},
		Spec: wireSpec{
			MeshConfig: wireMeshConfig{
				IncludeIPRanges:       "*",
				OutboundTrafficPolicy: "ALLOW_ANY",
				Telemetry:             true,
			},
			Network: wireNetwork{
				SecurityGroupID: m.SecurityGroupID,
				VpcID:           m.VpcID,
				VSwitches:       append([]string{}, m.VSwitches...),
			},
			LoadBalancer: wireLoadBalancer{
				APIServerLoadbalancerID:   "lb-api" + loadBalancerSuffix,
				APIServerPublicEip:        m.Endpoints.PublicAPIServer != "",
				PilotPublicLoadbalancerID: "lb-pilot" + loadBalancerSuffix,
				PilotPublicEip:            m.Endpoints.PublicPilot != "",
			},
		},
		Endpoints: wireEndpoints{
			IntranetAPIServerEndpoint: m.Endpoints.IntranetAPIServer,
			PublicAPIServerEndpoint:   m.Endpoints.PublicAPIServer,
			IntranetPilotEndpoint:     m.Endpoints.IntranetPilot,
			PublicPilotEndpoint:       m.Endpoints.PublicPilot,
			ReverseTunnelEndpoint:     m.Endpoints.ReverseTunnel,
		},
	}
}

func wireClusterOf(c MemberCluster) wireCluster {
	return wireCluster{
		ClusterID:     c.ID,
		ClusterType:   c.Type,
		CreationTime:  wireTime(c.CreationTime),
		ErrorMessage:  c.ErrorMessage,
		Name:          c.Name,
		RegionID:      c.RegionID,
		State:         c.State,
		UpdateTime:    wireTime(c.UpdateTime),
		Version:       c.KubernetesVersion,
		VpcID:         c.VpcID,
		SgID:          c.SecurityGroupID,
		ClusterDomain: c.Domain,
	}
}
