package asmfake

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Mesh states, as ServiceMeshInfo.State reports them: the ones named in ASM's docs and in the
// alicloud provider (shared/reference/asm-openapi.md). The fake moves a mesh through updating and
// upgrading by itself; SetMeshState sets any other.
const (
	MeshInitial         = "initial"
	MeshRunning         = "running"
	MeshUpgrading       = "upgrading"
	MeshUpgradingFailed = "upgrading_failed"
	// MeshUpdating is a mesh while a cluster joins or leaves it.
	MeshUpdating       = "updating"
	MeshUpdatingFailed = "updating_failed"
	MeshFailed         = "failed"
	MeshCreateTimeout  = "create_timeout"
)

// States of a cluster in a mesh, as DescribeClustersInServiceMesh reports them (its API reference
// lists these five).
const (
	ClusterStarting = "starting"
	ClusterRunning  = "running"
	ClusterStopping = "stopping"
	ClusterStopped  = "stopped"
	ClusterFailed   = "failed"
)

// Defaults for fields left empty in AddMesh and AddAvailableCluster. Meshes and clusters share a VPC
// by default, so a cluster can join a mesh unless a test says otherwise.
const (
	DefaultRegionID          = "cn-hangzhou"
	DefaultVpcID             = "vpc-bp1asmfake00000000000"
	DefaultMeshVersion       = "v1.22.6.71-g7d67a80b-aliyun"
	DefaultKubernetesVersion = "1.30.1-aliyun.1"
)

// Mesh is an ASM instance. As AddMesh input, empty fields get defaults; as returned by Mesh, it is a
// snapshot with pending transitions applied.
type Mesh struct {
	ID       string
	Name     string
	RegionID string
	// State defaults to MeshRunning.
	State           string
	ErrorMessage    string
	Version         string
	VpcID           string
	SecurityGroupID string
	VSwitches       []string
	Endpoints       Endpoints
	CreationTime    time.Time
	UpdateTime      time.Time
}

// Endpoints are the mesh's addresses. The public ones are empty unless the mesh has an EIP.
type Endpoints struct {
	IntranetAPIServer string
	PublicAPIServer   string
	IntranetPilot     string
	PublicPilot       string
	ReverseTunnel     string
}

// Cluster is a Kubernetes cluster the account owns and can add to a mesh.
type Cluster struct {
	ID   string
	Name string
	// Type is the ClusterType reported, "ManagedKubernetes" by default.
	Type              string
	RegionID          string
	VpcID             string
	SecurityGroupID   string
	KubernetesVersion string
	// Domain is the cluster DNS domain, "cluster.local" by default.
	Domain       string
	CreationTime time.Time
	// AttachError, when set, makes AddClusterIntoServiceMesh end in ClusterFailed with this ErrorMessage.
	AttachError string
	// Stopped is an ACK cluster that is not running: in a mesh it shows ClusterStopped once it has
	// joined. See SetClusterStopped.
	Stopped bool
}

// MemberCluster is a cluster as a mesh sees it.
type MemberCluster struct {
	Cluster
	State        string
	ErrorMessage string
	UpdateTime   time.Time
}

type meshState struct {
	Mesh
	updateDoneAt time.Time // zero unless a cluster is being added or removed
	members      []*member // in the order they were added
}

type member struct {
	clusterID    string
	state        string
	errorMessage string
	updateTime   time.Time
	settlesAt    time.Time // when "starting" or "stopping" ends
}

// AddMesh stores a mesh, replacing any with the same ID and its clusters, and returns it with
// defaults filled in (a generated ID among them).
func (s *Server) AddMesh(m Mesh) Mesh {
	now := time.Now()
	if m.ID == "" {
		m.ID = newResourceID()
	}
	short := m.ID[:min(len(m.ID), 10)]
	m.Name = cmp.Or(m.Name, "asm-"+short)
	m.RegionID = cmp.Or(m.RegionID, DefaultRegionID)
	m.State = cmp.Or(m.State, MeshRunning)
	m.Version = cmp.Or(m.Version, DefaultMeshVersion)
	m.VpcID = cmp.Or(m.VpcID, DefaultVpcID)
	m.SecurityGroupID = cmp.Or(m.SecurityGroupID, "sg-"+short)
	if len(m.VSwitches) == 0 {
		m.VSwitches = []string{"vsw-" + short}
	}
	m.VSwitches = slices.Clone(m.VSwitches)
	m.Endpoints.IntranetAPIServer = cmp.Or(m.Endpoints.IntranetAPIServer, "https://192.168.0.10:6443")
	m.Endpoints.IntranetPilot = cmp.Or(m.Endpoints.IntranetPilot, "192.168.0.11")
	if m.CreationTime.IsZero() {
		m.CreationTime = now
	}
	if m.UpdateTime.IsZero() {
		m.UpdateTime = m.CreationTime
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.meshes[m.ID] = &meshState{Mesh: m}
	return snapshotMesh(m)
}

// AddAvailableCluster makes a cluster known to the account, replacing any with the same ID, and
// returns it with defaults filled in.
func (s *Server) AddAvailableCluster(c Cluster) Cluster {
	if c.ID == "" {
		c.ID = newResourceID()
	}
	c.Name = cmp.Or(c.Name, "ack-"+c.ID[:min(len(c.ID), 10)])
	c.Type = cmp.Or(c.Type, "ManagedKubernetes")
	c.RegionID = cmp.Or(c.RegionID, DefaultRegionID)
	c.VpcID = cmp.Or(c.VpcID, DefaultVpcID)
	c.SecurityGroupID = cmp.Or(c.SecurityGroupID, "sg-"+c.ID[:min(len(c.ID), 10)])
	c.KubernetesVersion = cmp.Or(c.KubernetesVersion, DefaultKubernetesVersion)
	c.Domain = cmp.Or(c.Domain, "cluster.local")
	if c.CreationTime.IsZero() {
		c.CreationTime = time.Now()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[c.ID] = c
	return c
}

// Mesh returns a snapshot of a mesh.
func (s *Server) Mesh(id string) (Mesh, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(time.Now())
	m, ok := s.meshes[id]
	if !ok {
		return Mesh{}, false
	}
	return snapshotMesh(m.Mesh), true
}

// ClustersInMesh returns a snapshot of a mesh's clusters in the order they were added; nil for an
// unknown mesh.
func (s *Server) ClustersInMesh(meshID string) []MemberCluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(time.Now())
	m, ok := s.meshes[meshID]
	if !ok {
		return nil
	}
	out := make([]MemberCluster, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, s.memberCluster(mem))
	}
	return out
}

// SetMeshVersion changes a mesh's version, as an upgrade made outside Terraform would.
func (s *Server) SetMeshVersion(meshID, version string) error {
	return s.changeMesh(meshID, func(m *meshState) { m.Version = version })
}

// SetMeshState forces a mesh's state and error message, cancelling any update under way.
func (s *Server) SetMeshState(meshID, state, errorMessage string) error {
	return s.changeMesh(meshID, func(m *meshState) {
		m.State, m.ErrorMessage, m.updateDoneAt = state, errorMessage, time.Time{}
	})
}

// BusyMesh makes a running mesh "updating" for d from now, as a cluster change made outside Terraform
// (another team's) would: changes to it are refused meanwhile. On a mesh already updating it moves
// the end of the update to d from now.
func (s *Server) BusyMesh(meshID string, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.settle(now)
	m, ok := s.meshes[meshID]
	if !ok {
		return fmt.Errorf("asmfake: no mesh %q", meshID)
	}
	if m.State != MeshRunning && m.State != MeshUpdating {
		return fmt.Errorf("asmfake: mesh %q is %s, neither running nor updating", meshID, m.State)
	}
	m.State, m.UpdateTime, m.updateDoneAt = MeshUpdating, now, now.Add(d)
	return nil
}

// SetClusterStopped marks an available cluster stopped or running again; in a mesh it shows
// ClusterStopped (the state DescribeClustersInServiceMesh documents) instead of ClusterRunning.
func (s *Server) SetClusterStopped(clusterID string, stopped bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[clusterID]
	if !ok {
		return fmt.Errorf("asmfake: no available cluster %q", clusterID)
	}
	c.Stopped = stopped
	s.clusters[clusterID] = c
	return nil
}

// DeleteMesh removes a mesh and its clusters, as a deletion made outside Terraform would.
func (s *Server) DeleteMesh(meshID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.meshes[meshID]; !ok {
		return fmt.Errorf("asmfake: no mesh %q", meshID)
	}
	delete(s.meshes, meshID)
	return nil
}

// AttachClusterOutOfBand puts an available cluster into a mesh, already running, as if it had been
// added before the test (for import tests).
func (s *Server) AttachClusterOutOfBand(meshID, clusterID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.settle(now)
	m, ok := s.meshes[meshID]
	if !ok {
		return fmt.Errorf("asmfake: no mesh %q", meshID)
	}
	if _, ok := s.clusters[clusterID]; !ok {
		return fmt.Errorf("asmfake: no available cluster %q", clusterID)
	}
	if owner := s.meshOf(clusterID); owner != "" {
		return fmt.Errorf("asmfake: cluster %q is already in mesh %q", clusterID, owner)
	}
	m.members = append(m.members, &member{clusterID: clusterID, state: ClusterRunning, updateTime: now})
	return nil
}

// RemoveClusterOutOfBand takes a cluster out of a mesh at once, as a removal made outside
// Terraform would (for drift tests).
func (s *Server) RemoveClusterOutOfBand(meshID, clusterID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(time.Now())
	m, ok := s.meshes[meshID]
	if !ok {
		return fmt.Errorf("asmfake: no mesh %q", meshID)
	}
	n := len(m.members)
	m.members = slices.DeleteFunc(m.members, func(mem *member) bool { return mem.clusterID == clusterID })
	if len(m.members) == n {
		return fmt.Errorf("asmfake: cluster %q is not in mesh %q", clusterID, meshID)
	}
	return nil
}

func (s *Server) changeMesh(meshID string, change func(*meshState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(time.Now())
	m, ok := s.meshes[meshID]
	if !ok {
		return fmt.Errorf("asmfake: no mesh %q", meshID)
	}
	change(m)
	m.UpdateTime = time.Now()
	return nil
}

// settle completes the transitions whose delay has passed. Evaluating lazily, under the lock, on
// every read keeps the fake free of timers and its answers consistent within one call.
func (s *Server) settle(now time.Time) {
	for _, m := range s.meshes {
		m.members = slices.DeleteFunc(m.members, func(mem *member) bool {
			if mem.settlesAt.IsZero() || now.Before(mem.settlesAt) {
				return false
			}
			if mem.state == ClusterStopping {
				return true
			}
			mem.state, mem.updateTime, mem.settlesAt = ClusterRunning, mem.settlesAt, time.Time{}
			if attachError := s.clusters[mem.clusterID].AttachError; attachError != "" {
				mem.state, mem.errorMessage = ClusterFailed, attachError
			}
			return false
		})
		// The members settle first: the mesh's update lasts at least as long as its cluster's change.
		if m.State == MeshUpdating && !m.updateDoneAt.IsZero() && !now.Before(m.updateDoneAt) {
			m.State, m.UpdateTime, m.updateDoneAt = MeshRunning, m.updateDoneAt, time.Time{}
		}
	}
}

// meshOf returns the ID of the mesh holding a cluster, or "".
func (s *Server) meshOf(clusterID string) string {
	for id, m := range s.meshes {
		if slices.ContainsFunc(m.members, func(mem *member) bool { return mem.clusterID == clusterID }) {
			return id
		}
	}
	return ""
}

func (s *Server) memberCluster(mem *member) MemberCluster {
	cluster, state := s.clusters[mem.clusterID], mem.state
	if cluster.Stopped && state == ClusterRunning {
		state = ClusterStopped
	}
	return MemberCluster{Cluster: cluster, State: state, ErrorMessage: mem.errorMessage, UpdateTime: mem.updateTime}
}

// sortedMeshes returns the meshes oldest first, for stable listings.
func (s *Server) sortedMeshes() []*meshState {
	out := make([]*meshState, 0, len(s.meshes))
	for _, m := range s.meshes {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreationTime.Equal(out[j].CreationTime) {
			return out[i].CreationTime.Before(out[j].CreationTime)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func snapshotMesh(m Mesh) Mesh {
	m.VSwitches = slices.Clone(m.VSwitches)
	return m
}
