// Package localstack runs the whole stack a user's Terraform talks to, locally: the ASM API fake and
// a test cluster (internal/testcluster) with the KServe CRDs, the real ModelMesh Serving controller
// and model-mesh's stand-in.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"k8s.io/client-go/rest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// Fixture identities. They look like the real ones (ASM and ACK ids are "c" + 32 hex digits) so
// that validators written for real ids accept them.
const (
	Region          = "cn-hangzhou"
	AccessKeyID     = "LTAI5tLocalStackAccessKey"
	AccessKeySecret = "local-stack-secret-do-not-use-elsewhere"
	MeshID          = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	OldMeshID       = "c9f8e7d6c5b4a39281706f5e4d3c2b1a0"
	// ClusterID is the ACK cluster the demo attaches.
	ClusterID = "c1234567890abcdef1234567890abcdef"
	// OldMeshVersion is below the 1.18.0.134 that ModelMesh custom runtimes need.
	OldMeshVersion = "v1.17.2.42-gf7619883-aliyun"
	// ServingNamespace is where ModelMesh serves in the quickstart, labelled for cluster-scope mode.
	ServingNamespace = testcluster.ServingNamespace
)

// Options tunes how quickly things happen.
type Options struct {
	ASM asmfake.Options
	// ModelMesh tunes model-mesh's stand-in (load delays, failing and slow paths).
	ModelMesh mmeshfake.Options
	// BuiltInRuntimes installs upstream's built-in ClusterServingRuntimes, as a real install has
	// them (testcluster.LocalOptions).
	BuiltInRuntimes bool
}

// Stack is a running local stack.
type Stack struct {
	ASM *asmfake.Server
	// ACK serves DescribeClusterUserKubeconfig for the ASM fake's account; with a local cluster,
	// ClusterID's kubeconfigs lead to it.
	ACK        *asmfake.ACK
	Cluster    *testcluster.Cluster
	Local      *testcluster.Local
	Kubeconfig string

	clusters         atomic.Int64
	meshControlPlane *testcluster.MeshControlPlane
}

// Start brings everything up; on error whatever had started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	s, err := StartASMOnly(opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	local, err := testcluster.StartLocal(ctx, testcluster.LocalOptions{ModelMesh: opts.ModelMesh, BuiltInRuntimes: opts.BuiltInRuntimes})
	if err != nil {
		return nil, err
	}
	s.Local, s.Cluster, s.Kubeconfig = local, local.Cluster, local.KubeconfigPath
	if err = ServeACKCluster(ctx, s.ACK, s.Cluster, ClusterID, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// StartASMOnly starts just the ASM fake with the fixture meshes and cluster, for runs against a
// cluster of their own (kind); set Kubeconfig to that cluster's file before using ProviderConfig.
func StartASMOnly(opts Options) (*Stack, error) {
	s := &Stack{}
	s.ASM = asmfake.New(opts.ASM)
	if err := s.ASM.Start(); err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.ACK = asmfake.NewACK(s.ASM)
	if err := s.ACK.Start(); err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.ASM.AddCredential(asmfake.Credential{AccessKeyID: AccessKeyID, AccessKeySecret: AccessKeySecret})
	s.ASM.AddMesh(asmfake.Mesh{ID: MeshID, Name: "modelmesh-prod", RegionID: Region})
	s.ASM.AddMesh(asmfake.Mesh{ID: OldMeshID, Name: "legacy-mesh", RegionID: Region, Version: OldMeshVersion})
	s.ASM.AddAvailableCluster(asmfake.Cluster{ID: ClusterID, Name: "ack-modelmesh", RegionID: Region})
	return s, nil
}

// Stop stops everything that was started; it is safe on a partly started stack.
func (s *Stack) Stop() error {
	var errs []error
	if s.meshControlPlane != nil {
		errs = append(errs, s.meshControlPlane.Stop())
	}
	if s.Local != nil {
		errs = append(errs, s.Local.Stop())
	}
	if s.ACK != nil {
		errs = append(errs, s.ACK.Close())
	}
	if s.ASM != nil {
		errs = append(errs, s.ASM.Close())
	}
	return errors.Join(errs...)
}

// RESTConfig reaches the local cluster as an administrator.
func (s *Stack) RESTConfig() *rest.Config { return s.Cluster.RESTConfig() }

// NewAttachableCluster registers a fresh ACK cluster, in the meshes' VPC, that can be attached.
func (s *Stack) NewAttachableCluster(opts asmfake.Cluster) string {
	n := s.clusters.Add(1)
	if opts.ID == "" {
		opts.ID = fmt.Sprintf("c%032x", 0xacc0000+n)
	}
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("ack-test-%d", n)
	}
	if opts.RegionID == "" {
		opts.RegionID = Region
	}
	return s.ASM.AddAvailableCluster(opts).ID
}

// Env is the environment that points the provider (and kubectl) at this stack.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		"ALIBABA_CLOUD_REGION":               Region,
		"ALIBABA_CLOUD_ACCESS_KEY_ID":        AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET":    AccessKeySecret,
		"ALIBABA_CLOUD_SERVICEMESH_ENDPOINT": s.ASM.Endpoint(),
		"ALIBABA_CLOUD_CS_ENDPOINT":          s.ACK.Endpoint(),
		"ALIBABA_CLOUD_PROTOCOL":             "HTTP",
		"KUBECONFIG":                         s.Kubeconfig,
	}
}

// ProviderConfig is an HCL provider block for this stack. The fake serves plain HTTP on loopback,
// which is why protocol is set explicitly.
func (s *Stack) ProviderConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, "provider \"asm\" {\n")
	fmt.Fprintf(&b, "  region     = %q\n  access_key = %q\n  secret_key = %q\n  protocol   = \"HTTP\"\n", Region, AccessKeyID, AccessKeySecret)
	fmt.Fprintf(&b, "  endpoints {\n    servicemesh = %q\n    cs          = %q\n  }\n", s.ASM.Endpoint(), s.ACK.Endpoint())
	fmt.Fprintf(&b, "  kubernetes {\n    config_path = %q\n  }\n}\n", s.Kubeconfig)
	return b.String()
}
