package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// upstreamRuntime is the ModelMesh install's runtime config/runtimes/<upstream>.yaml, as the install
// applies it (readUpstreamInstall), made a runtime of kind named name, with labels added.
func upstreamRuntime(t *testing.T, kind kube.Kind, upstream, namespace, name string, labels map[string]string) *unstructured.Unstructured {
	t.Helper()
	obj := readUpstreamInstall(t).runtime(t, upstream)
	obj.SetKind(kind.Kind)
	obj.SetName(name)
	obj.SetNamespace(namespace)
	all := obj.GetLabels()
	for k, v := range labels {
		all[k] = v
	}
	obj.SetLabels(all)
	return obj
}

// createRuntime writes a runtime out of band, as the install or another team would; a
// ClusterServingRuntime, which no namespace deletion removes, is deleted when the test ends.
func createRuntime(t *testing.T, kind kube.Kind, obj *unstructured.Unstructured) {
	t.Helper()
	var runtimes = acctest.Dynamic(t).Resource(kind.GVR)
	if kind.Namespaced {
		createRuntimeObject(t, obj)
		return
	}
	if _, err := runtimes.Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := runtimes.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting %s %s: %v", kind.Kind, obj.GetName(), err)
		}
	})
}

// expectUpstreamRuntime checks the spec summary of a data source's runtime, whose attributes at
// gives the path of, against the object it read, from the upstream install.
func expectUpstreamRuntime(t *testing.T, addr string, at func(attribute string) tfjsonpath.Path, obj *unstructured.Unstructured) []statecheck.StateCheck {
	t.Helper()
	field := func(path ...string) string {
		v, _, _ := unstructured.NestedString(obj.Object, append([]string{"spec"}, path...)...)
		return v
	}
	specFormats, _, _ := unstructured.NestedSlice(obj.Object, "spec", "supportedModelFormats")
	var formats []knownvalue.Check
	for _, f := range specFormats {
		f, _ := f.(map[string]any)
		name, _ := f["name"].(string)
		version, _ := f["version"].(string)
		autoSelect, _ := f["autoSelect"].(bool)
		formats = append(formats, knownvalue.ObjectExact(map[string]knownvalue.Check{
			"name": knownvalue.StringExact(name), "version": knownvalue.StringExact(version),
			"auto_select": knownvalue.Bool(autoSelect), "priority": knownvalue.Null(),
		}))
	}
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "containers")
	container, _ := containers[0].(map[string]any)
	image, _ := container["image"].(string)
	labels := map[string]knownvalue.Check{}
	for k, v := range obj.GetLabels() {
		labels[k] = knownvalue.StringExact(v)
	}
	expect := func(v knownvalue.Check, attribute string, nested ...string) statecheck.StateCheck {
		p := at(attribute)
		for _, s := range nested {
			p = p.AtMapKey(s)
		}
		return statecheck.ExpectKnownValue(addr, p, v)
	}
	return []statecheck.StateCheck{
		expect(knownvalue.StringExact(obj.GetName()), "name"),
		expect(knownvalue.MapExact(labels), "labels"),
		expect(knownvalue.ListExact(formats), "supported_model_formats"),
		expect(knownvalue.Bool(true), "multi_model"),
		expect(knownvalue.Null(), "disabled"),
		expect(knownvalue.StringExact(field("grpcEndpoint")), "grpc_endpoint"),
		expect(knownvalue.StringExact(field("grpcDataEndpoint")), "grpc_data_endpoint"),
		expect(knownvalue.StringExact(field("builtInAdapter", "serverType")), "built_in_adapter", "server_type"),
		expect(knownvalue.ListSizeExact(1), "containers"),
		statecheck.ExpectKnownValue(addr, at("containers").AtSliceIndex(0).AtMapKey("image"),
			knownvalue.StringExact(image)),
	}
}

// listItem gives the paths of the attributes of item i of a plural data source.
func listItem(i int) func(attribute string) tfjsonpath.Path {
	return func(attribute string) tfjsonpath.Path {
		return tfjsonpath.New("items").AtSliceIndex(i).AtMapKey(attribute)
	}
}

func dataBlock(typeName, label string, args map[string]string) string {
	block := fmt.Sprintf("\ndata %q %q {\n", typeName, label)
	for k, v := range args {
		block += fmt.Sprintf("  %s = %q\n", k, v)
	}
	return block + "}\n"
}

// TestAccServingRuntimeDataSource reads runtimes created out of band in a namespace: ModelMesh's own
// mlserver-1.x made a ServingRuntime there, and a disabled custom one; lists them by namespace and
// label selector; and reads a missing one, an error naming it and its namespace.
func TestAccServingRuntimeDataSource(t *testing.T) {
	acctest.PreCheck(t)
	ns := acctest.CreateNamespace(t, "srds")
	builtIn := upstreamRuntime(t, kube.ServingRuntime, "mlserver-1.x", ns, "mlserver-1.x", nil)
	createRuntime(t, kube.ServingRuntime, builtIn)
	custom := testRuntime(ns, "custom", "my-model")
	custom.SetLabels(map[string]string{"team": "vision"})
	if err := unstructured.SetNestedField(custom.Object, true, "spec", "disabled"); err != nil {
		t.Fatal(err)
	}
	createRuntime(t, kube.ServingRuntime, custom)

	const one, all = "data.asm_serving_runtime.builtin", "data.asm_serving_runtimes.all"
	config := acctest.ProviderConfig() +
		dataBlock("asm_serving_runtime", "builtin", map[string]string{"name": "mlserver-1.x", "namespace": ns}) +
		dataBlock("asm_serving_runtime", "custom", map[string]string{"name": "custom", "namespace": ns}) +
		dataBlock("asm_serving_runtimes", "all", map[string]string{"namespace": ns}) +
		dataBlock("asm_serving_runtimes", "vision", map[string]string{"namespace": ns, "label_selector": "team in (vision)"}) +
		dataBlock("asm_serving_runtimes", "none", map[string]string{"namespace": ns, "label_selector": "team=nobody"})
	checks := append(expectUpstreamRuntime(t, one, tfjsonpath.New[string], builtIn),
		statecheck.ExpectKnownValue(one, tfjsonpath.New("id"), knownvalue.StringExact(ns+"/mlserver-1.x")),
		statecheck.ExpectKnownValue(one, tfjsonpath.New("protocol_versions"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("grpc-v2")})),
		statecheck.ExpectKnownValue("data.asm_serving_runtime.custom", tfjsonpath.New("disabled"), knownvalue.Bool(true)),
		statecheck.ExpectKnownValue("data.asm_serving_runtime.custom", tfjsonpath.New("supported_model_formats"),
			knownvalue.ListExact([]knownvalue.Check{knownvalue.ObjectExact(map[string]knownvalue.Check{
				"name": knownvalue.StringExact("my-model"), "version": knownvalue.StringExact("0"),
				"auto_select": knownvalue.Bool(true), "priority": knownvalue.Null(),
			})})),
		// Sorted by name; each item is what the singular form reads.
		statecheck.ExpectKnownValue(all, tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact("custom"),
				"namespace": knownvalue.StringExact(ns), "id": knownvalue.StringExact(ns + "/custom"), "disabled": knownvalue.Bool(true)}),
			knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact("mlserver-1.x")}),
		})),
		statecheck.ExpectKnownValue("data.asm_serving_runtimes.vision", tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact("custom")}),
		})),
		statecheck.ExpectKnownValue("data.asm_serving_runtimes.none", tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{})),
	)
	checks = append(checks, expectUpstreamRuntime(t, all, listItem(1), builtIn)...)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: config, ConfigStateChecks: checks},
			{
				Config: acctest.ProviderConfig() +
					dataBlock("asm_serving_runtime", "missing", map[string]string{"name": "no-such-runtime", "namespace": ns}),
				ExpectError: errorPattern(`ServingRuntime "no-such-runtime" in namespace "` + ns + `" not found.*Check the name and the namespace`),
			},
		},
	})
}

// TestAccServingRuntimeDataSource_ackCluster reads through ack_cluster_id, the provider knowing
// nothing of the cluster but its ID.
func TestAccServingRuntimeDataSource_ackCluster(t *testing.T) {
	acctest.PreCheck(t)
	ns := acctest.CreateNamespace(t, "srds")
	builtIn := upstreamRuntime(t, kube.ServingRuntime, "mlserver-1.x", ns, "mlserver-1.x", nil)
	createRuntime(t, kube.ServingRuntime, builtIn)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)
	checks := append(expectUpstreamRuntime(t, "data.asm_serving_runtime.test", tfjsonpath.New[string], builtIn),
		statecheck.ExpectKnownValue("data.asm_serving_runtimes.test", tfjsonpath.New("items"), knownvalue.ListSizeExact(1)))
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfigACK(ack, clusterID, "") +
				dataBlock("asm_serving_runtime", "test", map[string]string{"name": "mlserver-1.x", "namespace": ns}) +
				dataBlock("asm_serving_runtimes", "test", map[string]string{"namespace": ns}),
			ConfigStateChecks: checks,
		}},
	})
}
