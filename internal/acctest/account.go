package acctest

import (
	"fmt"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// Account is an Alibaba Cloud account of one test's own: ASM, ACK, STS, ECS instance metadata and a
// credentials URI, all accepting the fixture's access key and the temporary credentials the last
// three issue. Its recorder and fault queue serve that test alone, so tests that count credential
// exchanges or break them can run in parallel.
type Account struct {
	ASM      *asmfake.Server
	ACK      *asmfake.ACK
	STS      *asmfake.STS
	Metadata *asmfake.Metadata
	URI      *asmfake.CredentialsURI
	// MeshID is a mesh of the account and ClusterID an ACK cluster that can join it.
	MeshID, ClusterID string
}

// ECSRoleName is the RAM role attached to the instance whose metadata an Account serves.
const ECSRoleName = "ecs-runner"

// NewAccount starts an account's doubles until the test ends. It skips the test against real ASM.
func NewAccount(t *testing.T) *Account {
	t.Helper()
	SkipWithoutFake(t)
	account := asmfake.New(asmOptions())
	a := &Account{ASM: account, ACK: asmfake.NewACK(account), STS: asmfake.NewSTS(account),
		Metadata: asmfake.NewMetadata(account, ECSRoleName), URI: asmfake.NewCredentialsURI(account)}
	for _, s := range []interface {
		Start() error
		Close() error
	}{a.ASM, a.ACK, a.STS, a.Metadata, a.URI} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	account.AddCredential(asmfake.Credential{AccessKeyID: localstack.AccessKeyID, AccessKeySecret: localstack.AccessKeySecret})
	a.MeshID = account.AddMesh(asmfake.Mesh{RegionID: localstack.Region}).ID
	a.ClusterID = account.AddAvailableCluster(asmfake.Cluster{RegionID: localstack.Region}).ID
	return a
}

// ServeCluster makes cluster the account's ACK cluster ClusterID, as ACKCluster does for the
// shared fake; lifetime, if set, is the life of every kubeconfig credential.
func (a *Account) ServeCluster(t *testing.T, cluster *testcluster.Cluster, lifetime time.Duration) {
	t.Helper()
	if err := localstack.ServeACKCluster(t.Context(), a.ACK, cluster, a.ClusterID, lifetime); err != nil {
		t.Fatal(err)
	}
}

// ProviderConfig is a provider block that calls the account's ASM, ACK and STS, reaches the
// Kubernetes cluster through ACK by ClusterID, and authenticates with settings: lines of HCL for
// the provider block, the region among them unless it is to come from a CLI profile.
func (a *Account) ProviderConfig(settings string) string {
	return fmt.Sprintf(`provider "asm" {
%s
  protocol = "HTTP"
  endpoints {
    servicemesh = %q
    cs          = %q
    sts         = %q
  }
  kubernetes {
    ack_cluster_id = %q
  }
}
`, settings, a.ASM.Endpoint(), a.ACK.Endpoint(), a.STS.Endpoint(), a.ClusterID)
}
