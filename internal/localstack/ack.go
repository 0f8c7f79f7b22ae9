package localstack

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// apiserverTokenLeeway is how long after its exp kube-apiserver still accepts a service-account
// token (go-jose's DefaultLeeway: public.Validate in kubernetes pkg/serviceaccount/claims.go).
const apiserverTokenLeeway = time.Minute

// ServeACKCluster registers cluster on ack as the ACK cluster clusterID. Its kubeconfigs point at
// the cluster's apiserver (public and internal endpoint alike) with a bearer token of a
// cluster-admin service account, as the cluster owner's ACK kubeconfig is cluster-admin; the token
// is signed with the apiserver's own key and stops working when ACK's answer says. ACK itself issues
// client certificates: the local cluster can mint tokens with a chosen expiry, not certificates.
// lifetime, if set, is the life of every credential (asmfake.ACKCluster.CredentialLifetime).
func ServeACKCluster(ctx context.Context, ack *asmfake.ACK, cluster *testcluster.Cluster, clusterID string, lifetime time.Duration) error {
	admin, err := kubernetes.NewForConfig(cluster.RESTConfig())
	if err != nil {
		return err
	}
	name := "ack-owner-" + rand.String(8)
	sa, err := admin.CoreV1().ServiceAccounts("default").Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the ACK cluster owner's service account: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: name}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("binding the ACK cluster owner to cluster-admin: %w", err)
	}
	cfg := cluster.RESTConfig()
	ack.AddCluster(asmfake.ACKCluster{
		ID: clusterID, PublicServer: cfg.Host, IntranetServer: cfg.Host, CACertificate: cfg.CAData,
		CredentialLifetime: lifetime,
		Issue: func(expiry time.Time) (asmfake.KubeCredential, error) {
			token, err := cluster.ServiceAccountToken("default", name, string(sa.UID), expiry.Add(-apiserverTokenLeeway))
			return asmfake.KubeCredential{Token: token}, err
		},
	})
	return nil
}
