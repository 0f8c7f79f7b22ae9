package testcluster

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// With BuiltInRuntimes, the cluster has upstream's runtimes as its install applies them, and the
// controller deploys each in every ModelMesh-enabled namespace, scaled to zero while no model
// needs it. A cluster of its own: the shared one's tests create runtimes of the same names.
func TestBuiltInRuntimes(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	builtIns, err := StartLocal(ctx, LocalOptions{ModelMesh: sharedModelMeshOptions, BuiltInRuntimes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := builtIns.Stop(); err != nil {
			t.Error(err)
		}
	})
	install, err := ReadUpstreamRuntimes(builtIns.Cluster.modelMeshAssets)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"triton-2.x", "mlserver-1.x", "ovms-1.x", "torchserve-0.x"}; !reflect.DeepEqual(install.Names, want) {
		t.Fatalf("install runtimes = %v, want upstream v0.12.0's %v", install.Names, want)
	}
	const userNamespace = "team-a"
	if err := builtIns.Cluster.CreateNamespace(ctx, userNamespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		t.Fatal(err)
	}

	client := dynamic.NewForConfigOrDie(builtIns.Cluster.RESTConfig())
	clientset := kubernetes.NewForConfigOrDie(builtIns.Cluster.RESTConfig())
	for _, name := range install.Names {
		want, err := install.Runtime(name)
		if err != nil {
			t.Fatal(err)
		}
		live, err := client.Resource(clusterServingRuntimesResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("built-in runtime %s: %v", name, err)
		}
		if !reflect.DeepEqual(live.GetLabels(), want.GetLabels()) {
			t.Errorf("%s labels = %v, want the install's %v", name, live.GetLabels(), want.GetLabels())
		}
		if !reflect.DeepEqual(live.Object["spec"], want.Object["spec"]) {
			t.Errorf("%s spec = %s\nwant the install's %s", name, mustJSON(live.Object["spec"]), mustJSON(want.Object["spec"]))
		}
		if live.GetLabels()["app.kubernetes.io/managed-by"] != "modelmesh-controller" {
			t.Errorf("%s has no label of the install's LabelTransformer: %v", name, live.GetLabels())
		}

		containers, _, _ := unstructured.NestedSlice(want.Object, "spec", "containers")
		if len(containers) == 0 {
			t.Fatalf("%s: no containers", name)
		}
		container, _ := containers[0].(map[string]any)
		image, _, _ := unstructured.NestedString(container, "image")
		for _, namespace := range []string{ServingNamespace, userNamespace} {
			if err := waitDeployedAtZero(ctx, clientset, namespace, "modelmesh-serving-"+name, image); err != nil {
				t.Error(err)
			}
		}
	}
}

// waitDeployedAtZero waits for the controller's Deployment of a runtime (modelmesh.go: <service
// name>-<runtime name>) with the runtime's image and zero replicas (ScaleToZero: no model uses it).
func waitDeployedAtZero(ctx context.Context, clientset kubernetes.Interface, namespace, name, image string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := clientset.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil //nolint:nilerr // not there yet; the poll bounds the wait
		}
		var images []string
		for _, c := range d.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
		}
		last = fmt.Sprintf("replicas %v, images %v", *d.Spec.Replicas, images)
		for _, got := range images {
			if got == image && *d.Spec.Replicas == 0 {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("no Deployment %s/%s with image %s scaled to zero: %w; last seen: %s", namespace, name, image, err, last)
	}
	return nil
}
