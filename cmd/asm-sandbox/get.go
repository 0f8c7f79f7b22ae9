package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

func kubeconfigFromEnv() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, fmt.Errorf("loading KUBECONFIG: %w", err)
	}
	return cfg, nil
}

func installCRDs() error {
	cfg, err := kubeconfigFromEnv()
	if err != nil {
		return err
	}
	assets, err := testcluster.ModelMeshAssetsDir()
	if err != nil {
		return err
	}
	return testcluster.InstallCRDs(cfg, assets)
}

// getInferenceService prints one InferenceService the way `kubectl get inferenceservice` does, so
// the demo needs no kubectl.
func getInferenceService(args []string) error {
	flags := flag.NewFlagSet("get-isvc", flag.ContinueOnError)
	namespace := flags.String("n", localstack.ServingNamespace, "namespace")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return errors.New("usage: asm-sandbox get-isvc [-n NAMESPACE] NAME")
	}
	cfg, err := kubeconfigFromEnv()
	if err != nil {
		return err
	}
	client, err := kube.New(cfg)
	if err != nil {
		return err
	}
	obj, err := client.Get(context.Background(), kube.Ref{Kind: kube.InferenceService, Namespace: *namespace, Name: flags.Arg(0)})
	if err != nil {
		return err
	}
	url, _, _ := unstructured.NestedString(obj.Object, "status", "url")
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	if _, err := fmt.Fprintln(w, "NAME\tURL\tREADY\tAGE"); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", obj.GetName(), url, readyCondition(obj),
		duration.HumanDuration(time.Since(obj.GetCreationTimestamp().Time))); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// Who wrote the status, from managedFields: the ModelMesh controller, in the sandbox as in a cluster.
	active, _, _ := unstructured.NestedString(obj.Object, "status", "modelStatus", "states", "activeModelState")
	_, err = fmt.Printf("activeModelState %s, status written by: %s\n", active, strings.Join(statusManagers(obj), ", "))
	return err
}

func statusManagers(obj *unstructured.Unstructured) []string {
	var managers []string
	for _, entry := range obj.GetManagedFields() {
		if entry.Subresource == "status" && !slices.Contains(managers, entry.Manager) {
			managers = append(managers, entry.Manager)
		}
	}
	if len(managers) == 0 {
		return []string{"nobody"}
	}
	return managers
}

func readyCondition(obj *unstructured.Unstructured) string {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			if s, ok := m["status"].(string); ok {
				return s
			}
		}
	}
	return ""
}
