package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// builtInRuntimes are the examples of the "Built-in runtimes" guide (examples/runtimes/<name>):
// ModelMesh's own runtimes, kserve/modelmesh-serving config/runtimes/<name>.yaml, for this provider.
var builtInRuntimes = []struct{ name, resource string }{
	{"triton-2.x", "asm_cluster_serving_runtime.triton"},
	{"ovms-1.x", "asm_cluster_serving_runtime.ovms"},
	{"torchserve-0.x", "asm_cluster_serving_runtime.torchserve"},
	{"mlserver-1.x", "asm_cluster_serving_runtime.mlserver"},
}

func builtInExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "runtimes", name, "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// upstreamInstall is config/runtimes of the pinned ModelMesh Serving install, as it applies it.
type upstreamInstall struct{ *testcluster.UpstreamRuntimes }

func readUpstreamInstall(t *testing.T) upstreamInstall {
	t.Helper()
	assets, err := testcluster.ModelMeshAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	install, err := testcluster.ReadUpstreamRuntimes(assets)
	if err != nil {
		t.Fatal(err)
	}
	return upstreamInstall{install}
}

// runtime is config/runtimes/<name>.yaml as the install applies it: images replaced, labels added.
func (u upstreamInstall) runtime(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := u.Runtime(name)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// intendedDifferences are where the examples knowingly differ from the upstream install, by field
// path of the object, with the reason; templates/guides/built-in-runtimes.md.tmpl documents each.
func intendedDifferences(install upstreamInstall) map[string]string {
	out := map[string]string{}
	for k := range install.Labels {
		out[fieldPath([]string{"metadata", "labels", k})] = "added by the install's kustomize LabelTransformer; they mark objects " +
			"managed by the ModelMesh install (app.kubernetes.io/managed-by: modelmesh-controller), which Terraform's are not"
	}
	return out
}

// definingFields is the part of a runtime that defines it: kind, name, labels, annotations, spec;
// resource quantities in canonical form (`cpu: 5` and `cpu: "5"` are the same amount).
func definingFields(t *testing.T, obj *unstructured.Unstructured) map[string]any {
	t.Helper()
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	containers, _, _ := unstructured.NestedSlice(spec, "containers")
	for _, c := range containers {
		resources, _ := c.(map[string]any)["resources"].(map[string]any)
		for _, amounts := range resources {
			amounts, _ := amounts.(map[string]any)
			for name, amount := range amounts {
				q, err := apiresource.ParseQuantity(fmt.Sprint(amount))
				if err != nil {
					t.Fatalf("%s: resources %s: %v", obj.GetName(), name, err)
				}
				amounts[name] = q.String()
			}
		}
	}
	if containers != nil {
		spec["containers"] = containers
	}
	metadata := map[string]any{"name": obj.GetName()}
	for key, m := range map[string]map[string]string{"labels": obj.GetLabels(), "annotations": obj.GetAnnotations()} {
		if len(m) > 0 {
			values := map[string]any{}
			for k, v := range m {
				values[k] = v
			}
			metadata[key] = values
		}
	}
	return map[string]any{"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "metadata": metadata, "spec": spec}
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func fieldPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		switch {
		case strings.HasPrefix(p, "["):
			b.WriteString(p)
		case plainKey.MatchString(p):
			if i > 0 {
				b.WriteString(".")
			}
			b.WriteString(p)
		default:
			fmt.Fprintf(&b, "[%q]", p)
		}
	}
	return b.String()
}

// diffFields lists, by field path, every field where got and want differ.
func diffFields(path []string, got, want any, out map[string]string) {
	gotMap, gotIsMap := got.(map[string]any)
	wantMap, wantIsMap := want.(map[string]any)
	gotList, gotIsList := got.([]any)
	wantList, wantIsList := want.([]any)
	switch {
	case gotIsMap && wantIsMap:
		keys := map[string]bool{}
		for k := range gotMap {
			keys[k] = true
		}
		for k := range wantMap {
			keys[k] = true
		}
		for k := range keys {
			diffFields(append(append([]string{}, path...), k), gotMap[k], wantMap[k], out)
		}
	case gotIsList && wantIsList && len(gotList) == len(wantList):
		for i := range gotList {
			diffFields(append(append([]string{}, path...), fmt.Sprintf("[%d]", i)), gotList[i], wantList[i], out)
		}
	case !reflect.DeepEqual(got, want):
		out[fieldPath(path)] = fmt.Sprintf("live %#v, upstream %#v", got, want)
	}
}

// checkAsUpstream compares the live runtime field by field with the upstream install's: every
// difference must be an intended one, and every intended one must still be there.
func checkAsUpstream(t *testing.T, client *kube.Client, install upstreamInstall, name string) error {
	live, err := client.Get(context.Background(), kube.Ref{Kind: kube.ClusterServingRuntime, Name: name})
	if err != nil {
		return err
	}
	diffs := map[string]string{}
	diffFields(nil, definingFields(t, live), definingFields(t, install.runtime(t, name)), diffs)
	intended := intendedDifferences(install)
	var problems []string
	for path, diff := range diffs {
		if _, ok := intended[path]; !ok {
			problems = append(problems, path+": "+diff)
		}
	}
	for path, reason := range intended {
		if _, ok := diffs[path]; !ok {
			problems = append(problems, path+": listed as an intended difference ("+reason+"), yet the same as upstream")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s differs from upstream config/runtimes/%s.yaml:\n  %s", name, name, strings.Join(problems, "\n  "))
	}
	return nil
}

// checkDeployed waits until the ModelMesh controller has deployed the runtime in its namespace:
// a Deployment modelmesh-serving-<name> (modelmesh.go: <service name>-<runtime name>) with the
// runtime's container and image. Scaled to zero until a model uses it (ScaleToZero).
func checkDeployed(t *testing.T, client kubernetes.Interface, install upstreamInstall, name string) error {
	container, _ := install.runtime(t, name).Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	deployment := "modelmesh-serving-" + name
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true,
		func(ctx context.Context) (bool, error) {
			d, err := client.AppsV1().Deployments(testcluster.ServingNamespace).Get(ctx, deployment, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil //nolint:nilerr // not there yet; the poll bounds the wait
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == container["name"] && c.Image == container["image"] {
					return true, nil
				}
			}
			last = fmt.Sprintf("containers %v", d.Spec.Template.Spec.Containers)
			return false, nil
		})
	if err != nil {
		return fmt.Errorf("no Deployment %s/%s with container %s (%s): %w; last seen: %s",
			testcluster.ServingNamespace, deployment, container["name"], container["image"], err, last)
	}
	return nil
}

// Each built-in runtime example, applied, is ModelMesh's own runtime field by field, and the real
// controller deploys it. ClusterServingRuntimes serve every namespace, so the test has a cluster
// of its own: on the shared one, other tests' models would be auto-selected onto these runtimes.
func TestAccRuntimeBuiltIn_asUpstream(t *testing.T) {
	acctest.PreCheck(t)
	install := readUpstreamInstall(t)
	local := acctest.DedicatedCluster(t, acctest.ModelMeshOptions())
	client, err := kube.New(local.Cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	clientset, err := kubernetes.NewForConfig(local.Cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}

	config := fmt.Sprintf("provider \"asm\" {\n  kubernetes {\n    config_path = %q\n  }\n}\n", local.KubeconfigPath)
	var checks []resource.TestCheckFunc
	steps := []resource.TestStep{{}}
	for _, rt := range builtInRuntimes {
		config += builtInExample(t, rt.name)
		checks = append(checks, func(*terraform.State) error {
			if err := checkAsUpstream(t, client, install, rt.name); err != nil {
				return err
			}
			return checkDeployed(t, clientset, install, rt.name)
		})
		steps = append(steps, resource.TestStep{ResourceName: rt.resource, ImportState: true, ImportStateId: rt.name, ImportStateVerify: true})
	}
	steps[0] = resource.TestStep{
		Config:           config,
		Check:            resource.ComposeAggregateTestCheckFunc(checks...),
		ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
	}
	for i := 1; i < len(steps); i++ {
		steps[i].Config = config
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			for _, rt := range builtInRuntimes {
				_, err := client.Get(context.Background(), kube.Ref{Kind: kube.ClusterServingRuntime, Name: rt.name})
				if err == nil {
					return fmt.Errorf("%s still exists after destroy", rt.name)
				}
				if !kube.IsNotFound(err) {
					return err
				}
			}
			return nil
		},
		Steps: steps,
	})
}

// A model that names no runtime, in a namespace with no runtime of its own, is auto-selected onto
// the built-in runtime of its format, as on a real install: on the shared stack, which has the
// built-ins (acctest.Run), an sklearn model becomes ready on mlserver-1.x. The controller scales
// that runtime up for the model (ScaleToZero: no Pods while no model needs it) and down again once
// it is gone.
func TestAccInferenceService_autoSelectsBuiltIn(t *testing.T) {
	requireLocalModelMesh(t)
	const builtIn = "mlserver-1.x"
	tc := isvcTest{namespace: acctest.CreateModelNamespace(t, "builtin"), name: acctest.RandomName("model")}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(tc.checkGone(t), func(*terraform.State) error {
			return waitBuiltInReplicas(t, tc.namespace, builtIn, func(d *kube.RuntimeDeployment) bool {
				return *d.Deployment.Spec.Replicas == 0
			}, "scaled to zero once no model needs it")
		}),
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + acctest.Model{Name: tc.name, Namespace: tc.namespace,
					Format: acctest.Format{Name: "sklearn"}, Path: "sklearn/mnist-svm.joblib"}.HCL(),
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("ready", knownvalue.Bool(true)),
					expectState("active_model_state", knownvalue.StringExact("Loaded")),
					expectState("runtime", knownvalue.Null()),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					tc.checkLive(t, loadedWithPath("sklearn/mnist-svm.joblib")),
					func(*terraform.State) error {
						return waitBuiltInReplicas(t, tc.namespace, builtIn, func(d *kube.RuntimeDeployment) bool {
							ready := 0
							for i := range d.Pods {
								if kube.PodReady(&d.Pods[i]) {
									ready++
								}
							}
							return *d.Deployment.Spec.Replicas > 0 && ready == int(*d.Deployment.Spec.Replicas)
						}, "scaled up with every Pod ready")
					},
					// The namespace has no runtime of its own: the model can only be served by a
					// ClusterServingRuntime's Pods.
					func(*terraform.State) error {
						own, err := acctest.Kube(t).List(context.Background(), kube.ServingRuntime, tc.namespace, "")
						if err != nil || len(own) > 0 {
							return fmt.Errorf("ServingRuntimes in %s: %d (err %v), want none", tc.namespace, len(own), err)
						}
						return nil
					},
				),
			},
			{
				Config: acctest.ProviderConfig() + acctest.Model{Name: tc.name, Namespace: tc.namespace,
					Format: acctest.Format{Name: "sklearn"}, Path: "sklearn/mnist-svm.joblib"}.HCL(),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// waitBuiltInReplicas waits until the controller's Deployment of the built-in runtime in
// namespace satisfies ok, which what describes.
func waitBuiltInReplicas(t *testing.T, namespace, runtime string, ok func(*kube.RuntimeDeployment) bool, what string) error {
	client := acctest.Kube(t)
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		deployed, err := client.RuntimeDeployments(ctx, namespace)
		if err != nil {
			return false, err
		}
		d := deployed[runtime]
		if d == nil {
			last = "no Deployment"
			return false, nil
		}
		last = fmt.Sprintf("replicas %d, %d Pods", *d.Deployment.Spec.Replicas, len(d.Pods))
		return ok(d), nil
	})
	if err != nil {
		return fmt.Errorf("runtime %s in %s not %s: %w; last seen: %s", runtime, namespace, what, err, last)
	}
	return nil
}
