package asmfake

import (
	"strconv"
)

// ControlPlane is how a mesh's control plane (the API server holding its Istio resources) is
// reached: the kubeconfigs DescribeServiceMeshKubeconfig answers with.
type ControlPlane struct {
	// Public is the kubeconfig for the public API server endpoint (PrivateIpAddress=false, the
	// default), Intranet the one for the VPC endpoint (PrivateIpAddress=true).
	Public, Intranet []byte
}

// SetControlPlane makes DescribeServiceMeshKubeconfig answer for meshID with cp.
func (s *Server) SetControlPlane(meshID string, cp ControlPlane) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.controlPlanes[meshID] = cp
}

// describeServiceMeshKubeconfigResponse is the action's answer: {"RequestId", "Kubeconfig"}, the
// kubeconfig as one string (ASM API reference, DescribeServiceMeshKubeconfig; the old SDK's
// DescribeServiceMeshKubeconfigResponse, services/servicemesh/describe_service_mesh_kubeconfig.go).
type describeServiceMeshKubeconfigResponse struct {
	RequestID  string `json:"RequestId"`
	Kubeconfig string `json:"Kubeconfig"`
}

// describeServiceMeshKubeconfig answers with the control plane's kubeconfig. ServiceMeshId and
// PrivateIpAddress are its request parameters (both Query in the old SDK). An unknown mesh answers
// ServiceMesh.NotFound, as the mesh's other actions do; a mesh the test gave no control plane answers
// an empty Kubeconfig, which a client must not take for a usable one. A missing RAM permission is a
// Forbidden.RAM fault, injected like any other (the gateway answers it before the action runs).
func (s *Server) describeServiceMeshKubeconfig(c call) (any, *apiError) {
	m, failure := s.lookupMesh(c.params["ServiceMeshId"])
	if failure != nil {
		return nil, failure
	}
	private := false
	if v, ok := c.params["PrivateIpAddress"]; ok && v != "" {
		var err error
		if private, err = strconv.ParseBool(v); err != nil {
			return nil, newError(CodeInvalidParameter, "PrivateIpAddress %q is not a boolean.", v)
		}
	}
	cp := s.controlPlanes[m.ID]
	config := cp.Public
	if private {
		config = cp.Intranet
	}
	return describeServiceMeshKubeconfigResponse{RequestID: c.requestID, Kubeconfig: string(config)}, nil
}
