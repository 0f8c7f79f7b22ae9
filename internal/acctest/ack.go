package acctest

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// apiserverTokenLeeway is how long after its exp kube-apiserver still accepts a service-account token.
const apiserverTokenLeeway = time.Minute

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

	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	name := RandomName("ack-owner")
	sa, err := admin.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: name}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := cluster.RESTConfig()
	ack.AddCluster(asmfake.ACKCluster{
		ID: clusterID, PublicServer: cfg.Host, IntranetServer: cfg.Host, CACertificate: cfg.CAData,
		CredentialLifetime: lifetime,
		Issue: func(expiry time.Time) (asmfake.KubeCredential, error) {
			// The apiserver accepts a service-account token until a minute past its exp (go-jose's
			// DefaultLeeway: public.Validate in kubernetes pkg/serviceaccount/claims.go), so the token
			// is minted to expire that much earlier: it stops working when ACK's answer says.
			token, err := cluster.ServiceAccountToken("default", name, string(sa.UID), expiry.Add(-apiserverTokenLeeway))
			return asmfake.KubeCredential{Token: token}, err
		},
	})
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
