package testcluster

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The kubelet API is secured as kubeadm secures it (its kubelet configuration and the
// apiserver-kubelet-client certificate; Kubernetes docs, "Kubelet authentication/authorization"):
// the kubelet accepts only client certificates of a CA it trusts and asks the apiserver whether
// each caller may do what it asks (webhook authn/authz); the apiserver calls kubelets (logs, exec,
// port forward) with a client certificate of its own, whose user is bound to
// system:kubelet-api-admin. Nodes are authorized as nodes: the Node authorizer and the
// NodeRestriction admission plugin, as kubeadm sets them, so a kubelet reads only the Secrets and
// ConfigMaps of its own Pods.
const (
	kubeletClientDir  = "kubelet-client"
	kubeletClientUser = "kube-apiserver-kubelet-client"
)

// secureKubeletAPI writes the kubelet client CA and the apiserver's client certificate into
// workDir and configures the apiserver to use them and to authorize nodes as nodes.
func secureKubeletAPI(apiserver *envtest.APIServer, workDir string) error {
	dir := filepath.Join(workDir, kubeletClientDir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubelet-client-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, caKey, err := newCert(ca, nil, nil)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	client := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: kubeletClientUser},
		NotBefore:    ca.NotBefore,
		NotAfter:     ca.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER, key, err := newCert(client, ca, caKey)
	if err != nil {
		return err
	}
	if _, err := writeCertAndKey(dir, "client.crt", "client.key", clientDER, key); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		return err
	}
	args := apiserver.Configure()
	args.Set("kubelet-client-certificate", filepath.Join(dir, "client.crt"))
	args.Set("kubelet-client-key", filepath.Join(dir, "client.key"))
	args.Set("authorization-mode", "Node,RBAC")
	args.Set("enable-admission-plugins", "NodeRestriction")
	return nil
}

// bindKubeletClient lets the apiserver's kubelet client user use every kubelet API, as kubeadm
// binds it (the bootstrap ClusterRole system:kubelet-api-admin).
func (c *Cluster) bindKubeletClient(ctx context.Context) error {
	clientset, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: kubeletClientUser},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: kubeletClientUser}},
	}
	_, err = clientset.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind the apiserver's kubelet client: %w", err)
	}
	return nil
}

// KubeletClientCAFile is the CA a kubelet of this cluster trusts for client certificates
// (authentication.x509.clientCAFile): it signed the apiserver's.
func (c *Cluster) KubeletClientCAFile() string {
	return filepath.Join(c.workDir, kubeletClientDir, "ca.crt")
}

// WriteNodeKubeconfig writes a kubeconfig for the kubelet of the named Node: the user
// system:node:<name> in group system:nodes, which the Node authorizer and NodeRestriction confine
// to that Node and its Pods (what a kubelet's TLS bootstrap ends with).
func (c *Cluster) WriteNodeKubeconfig(path, node string) error {
	user, err := c.env.AddUser(envtest.User{Name: "system:node:" + node, Groups: []string{"system:nodes"}}, c.config)
	if err != nil {
		return fmt.Errorf("credentials of node %s: %w", node, err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return errors.Join(fmt.Errorf("kubeconfig of node %s", node), err)
	}
	return os.WriteFile(path, raw, 0o600)
}
