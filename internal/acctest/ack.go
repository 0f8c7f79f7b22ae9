package acctest

import (
	"fmt"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// ACKCluster registers cluster as the ACK cluster clusterID on a fake ACK API started for this
// test, which serves the ASM fake's account, and returns the fake. Its kubeconfigs point at the
// cluster's apiserver (public and internal endpoint alike) with a bearer token of a cluster-admin
// service account, as the cluster owner's ACK kubeconfig is cluster-admin; the token is signed with
// the apiserver's own key and expires when the answer says. ACK itself issues client certificates:
// the local cluster can mint tokens with a chosen expiry, not certificates. lifetime, if set, is the
// life of every credential (asmfake.ACKCluster.CredentialLifetime). It skips the test without the
// fake or the local cluster.
func ACKCluster(t *testing.T, cluster *testcluster.Cluster, clusterID string, lifetime time.Duration) *asmfake.ACK {
	t.Helper()
	fake := SkipWithoutFake(t)
	ack := asmfake.NewACK(fake)
	if err := ack.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ack.Close() })

	if err := localstack.ServeACKCluster(t.Context(), ack, cluster, clusterID, lifetime); err != nil {
		t.Fatal(err)
	}
	return ack
}

// ProviderConfigACK is a provider block for the local stack that reaches the cluster through ack
// by its ID alone, with extra lines added to the kubernetes block.
func ProviderConfigACK(ack *asmfake.ACK, clusterID, extra string) string {
	return fmt.Sprintf(`provider "asm" {
  region     = %q
  access_key = %q
  secret_key = %q
  protocol   = "HTTP"
  endpoints {
    servicemesh = %q
    cs          = %q
  }
  kubernetes {
    ack_cluster_id = %q
%s  }
}
`, localstack.Region, localstack.AccessKeyID, localstack.AccessKeySecret, ASMFake().Endpoint(), ack.Endpoint(), clusterID, extra)
}

// ACKEnv is the environment that points the provider at the local stack's fake APIs with the
// fixture's Alibaba Cloud credentials and nothing about Kubernetes, for configurations that name
// only a mesh and a cluster.
func ACKEnv(ack *asmfake.ACK) map[string]string {
	return map[string]string{
		"ALIBABA_CLOUD_REGION":               localstack.Region,
		"ALIBABA_CLOUD_ACCESS_KEY_ID":        localstack.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET":    localstack.AccessKeySecret,
		"ALIBABA_CLOUD_PROTOCOL":             "HTTP",
		"ALIBABA_CLOUD_SERVICEMESH_ENDPOINT": ASMFake().Endpoint(),
		"ALIBABA_CLOUD_CS_ENDPOINT":          ack.Endpoint(),
		"KUBECONFIG":                         "",
		"KUBE_CONFIG_PATH":                   "",
	}
}
