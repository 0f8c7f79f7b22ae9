package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// UpstreamRuntimes is config/runtimes of the pinned kserve/modelmesh-serving module (copied into
// the ModelMesh assets by tools/modelmesh/build.sh), read as its kustomization.yaml installs it:
// the runtimes it lists, their images replaced as its images: say, the labels of its
// LabelTransformer added.
type UpstreamRuntimes struct {
	dir string
	// Names are the runtimes the install applies (its resources:), in its order.
	Names []string
	// Labels are added to every object by the install's LabelTransformer.
	Labels map[string]string
	// images maps an image name of the runtime files to the image the install sets (kustomize's
	// images: newName and newTag).
	images map[string]string
}

// ReadUpstreamRuntimes reads config/runtimes from modelMeshAssets (see ModelMeshAssetsDir).
func ReadUpstreamRuntimes(modelMeshAssets string) (*UpstreamRuntimes, error) {
	dir := filepath.Join(modelMeshAssets, "serving", "config", "runtimes")
	var kustomization struct {
		Resources []string
		Images    []struct {
			Name, NewName, NewTag string
		}
		Transformers []string
	}
	if err := readYAML(filepath.Join(dir, "kustomization.yaml"), &kustomization); err != nil {
		return nil, err
	}
	u := &UpstreamRuntimes{dir: dir, images: map[string]string{}, Labels: map[string]string{}}
	for _, file := range kustomization.Resources {
		u.Names = append(u.Names, strings.TrimSuffix(file, ".yaml"))
	}
	for _, image := range kustomization.Images {
		u.images[image.Name] = image.NewName + ":" + image.NewTag
	}
	for _, path := range kustomization.Transformers {
		var transformer struct {
			Kind   string
			Labels map[string]string
		}
		if err := readYAML(filepath.Join(dir, path), &transformer); err != nil {
			return nil, err
		}
		if transformer.Kind != "LabelTransformer" {
			return nil, fmt.Errorf("%s: a %s transformer, which ReadUpstreamRuntimes does not know", path, transformer.Kind)
		}
		for k, v := range transformer.Labels {
			u.Labels[k] = v
		}
	}
	return u, nil
}

func readYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Runtime is config/runtimes/<name>.yaml as the install applies it: images replaced, labels added.
func (u *UpstreamRuntimes) Runtime(name string) (*unstructured.Unstructured, error) {
	b, err := os.ReadFile(filepath.Join(u.dir, name+".yaml"))
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(j); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "containers")
	for _, c := range containers {
		container, _ := c.(map[string]any)
		image, _ := container["image"].(string)
		imageName, _, _ := strings.Cut(image, ":")
		replaced, ok := u.images[imageName]
		if !ok {
			return nil, fmt.Errorf("%s: the install sets no image for %q", name, image)
		}
		container["image"] = replaced
	}
	if err := unstructured.SetNestedSlice(obj.Object, containers, "spec", "containers"); err != nil {
		return nil, err
	}
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range u.Labels {
		labels[k] = v
	}
	obj.SetLabels(labels)
	return obj, nil
}

var clusterServingRuntimesResource = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "clusterservingruntimes"}

// installBuiltInRuntimes applies the upstream install's runtimes, after the controller and its
// webhook are up, as upstream's install does (its runtimes come last, once the controller runs).
func (c *Cluster) installBuiltInRuntimes(ctx context.Context) error {
	install, err := ReadUpstreamRuntimes(c.modelMeshAssets)
	if err != nil {
		return fmt.Errorf("read the built-in runtimes: %w", err)
	}
	client, err := dynamic.NewForConfig(c.config)
	if err != nil {
		return err
	}
	for _, name := range install.Names {
		obj, err := install.Runtime(name)
		if err != nil {
			return fmt.Errorf("read the built-in runtimes: %w", err)
		}
		// The webhook (failurePolicy Fail) answers once the apiserver reached the controller's
		// freshly started server; until then the create fails with an internal error.
		var last error
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, last = client.Resource(clusterServingRuntimesResource).Create(ctx, obj, metav1.CreateOptions{})
			if apierrors.IsInternalError(last) {
				return false, nil
			}
			return true, last
		})
		if err != nil {
			return fmt.Errorf("apply the built-in runtime %s: %w (last: %v)", name, err, last)
		}
	}
	return nil
}
