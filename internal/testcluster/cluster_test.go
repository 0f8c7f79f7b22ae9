package testcluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestKubeconfigReachesCluster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := local.Cluster.WriteKubeconfig(path); err != nil {
		t.Fatal(err)
	}
	for _, contextName := range []string{"", KubeconfigContext} {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: contextName}).ClientConfig()
		if err != nil {
			t.Fatalf("context %q: %v", contextName, err)
		}
		clientset := kubernetes.NewForConfigOrDie(cfg)
		ns, err := clientset.CoreV1().Namespaces().Get(t.Context(), ServingNamespace, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("context %q: %v", contextName, err)
		}
		if ns.Labels["modelmesh-enabled"] != "true" {
			t.Errorf("namespace %s labels = %v, want modelmesh-enabled=true", ServingNamespace, ns.Labels)
		}
	}
}

func TestStartLocalWritesKubeconfig(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", local.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != local.Cluster.RESTConfig().Host {
		t.Errorf("kubeconfig server = %s, want %s", cfg.Host, local.Cluster.RESTConfig().Host)
	}
}

func TestCreateNamespaceAddsLabelsToExisting(t *testing.T) {
	ctx := t.Context()
	if err := local.Cluster.CreateNamespace(ctx, "relabelled", map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := local.Cluster.CreateNamespace(ctx, "relabelled", map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	ns, err := kubernetes.NewForConfigOrDie(local.Cluster.RESTConfig()).CoreV1().Namespaces().Get(ctx, "relabelled", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["a"] != "1" || ns.Labels["b"] != "2" {
		t.Errorf("labels = %v, want a=1 and b=2", ns.Labels)
	}
}

func TestStartExplainsMissingBinaries(t *testing.T) {
	t.Setenv("KUBEBUILDER_ASSETS", "")
	for _, assets := range []string{"", t.TempDir()} {
		_, err := Start(context.Background(), Options{AssetsDir: assets})
		if err == nil || !strings.Contains(err.Error(), "make tools") {
			t.Errorf("Start with assets %q: error = %v, want one telling to run make tools", assets, err)
		}
	}
}
