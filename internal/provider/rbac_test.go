package provider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
)

// guideRBAC reads the Role and ClusterRole the real-account guide tells users to grant, from the
// guide's own template, for namespace; the ClusterRole is renamed clusterRole.
func guideRBAC(t *testing.T, namespace, clusterRole string) (*rbacv1.Role, *rbacv1.ClusterRole) {
	t.Helper()
	guide, err := os.ReadFile(filepath.Join("..", "..", "templates", "guides", "real-account-quickstart.md.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(guide), "### Kubernetes RBAC in the cluster")
	_, block, fenced := strings.Cut(section, "```yaml\n")
	block, _, closed := strings.Cut(block, "```")
	if !found || !fenced || !closed {
		t.Fatal("the guide has no yaml block under its Kubernetes RBAC heading")
	}
	block = strings.ReplaceAll(block, "namespace: modelmesh-serving", "namespace: "+namespace)
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(block)), 4096)
	var role rbacv1.Role
	var cluster rbacv1.ClusterRole
	for _, into := range []any{&role, &cluster} {
		if err := decoder.Decode(into); err != nil {
			t.Fatalf("decoding the guide's RBAC: %v", err)
		}
	}
	if err := decoder.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		t.Fatalf("the guide's RBAC has more than a Role and a ClusterRole: %v", err)
	}
	if role.Kind != "Role" || cluster.Kind != "ClusterRole" {
		t.Fatalf("the guide's RBAC is a %s and a %s, want a Role and a ClusterRole", role.Kind, cluster.Kind)
	}
	cluster.Name = clusterRole
	return &role, &cluster
}

// TestAccRBAC_guideIsEnough applies a runtime, its storage and a model, waits until READY, refreshes
// and destroys them with a token of a service account holding exactly the RBAC the real-account
// guide prints, read from the guide itself: if the provider needs more, the guide is wrong.
func TestAccRBAC_guideIsEnough(t *testing.T) {
	acctest.PreCheck(t)
	cluster := acctest.LocalCluster(t)
	namespace := acctest.CreateNamespace(t, "rbac")
	ctx := t.Context()
	admin := kubernetes.NewForConfigOrDie(cluster.RESTConfig())
	role, clusterRole := guideRBAC(t, namespace, "terraform-asm-"+namespace)
	sa, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "terraform"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: sa.Name}}
	if _, err := admin.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, clusterRole, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.RbacV1().ClusterRoles().Delete(ctx, clusterRole.Name, metav1.DeleteOptions{}) })
	if _, err := admin.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "terraform-asm"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.RbacV1().ClusterRoleBindings().Delete(ctx, clusterRole.Name, metav1.DeleteOptions{}) })
	token, err := cluster.ServiceAccountToken(namespace, sa.Name, string(sa.UID), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cfg := cluster.RESTConfig()
	provider := fmt.Sprintf("provider \"asm\" {\n  kubernetes {\n    host                   = %q\n    cluster_ca_certificate = %q\n    token                  = %q\n  }\n}\n",
		cfg.Host, cfg.CAData, token)
	runtime := acctest.Runtime{Name: "rbac-runtime", Namespace: namespace}
	storage := acctest.Storage{Name: "rbacStorage", Namespace: namespace}
	model := acctest.Model{Name: "rbac-model", Namespace: namespace, Runtime: runtime.NameRef(), StorageKey: "asm_model_storage.test.name", Path: "sklearn/model.joblib"}
	s := faultStack{cluster: cluster, namespace: namespace}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             s.checkGone(t),
		Steps: []resource.TestStep{{
			Config: provider + runtime.HCL() + storage.HCL() + model.HCL(),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(model.Address(), tfjsonpath.New("ready"), knownvalue.Bool(true)),
			},
		}},
	})
}
