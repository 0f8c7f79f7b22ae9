package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// formatCheck is the typical use: fail at plan time when a runtime does not serve a model format.
func formatCheck(name, format string) string {
	return `
data "asm_cluster_serving_runtime" "check" {
  name = "` + name + `"

  lifecycle {
    postcondition {
      condition     = contains([for f in self.supported_model_formats : f.name], "` + format + `")
      error_message = "${self.name} does not serve ` + format + `"
    }
  }
}
`
}

// TestAccClusterServingRuntimeDataSource reads ClusterServingRuntimes created out of band: ModelMesh's
// own torchserve-0.x as its install applies it, and a disabled custom one; lists them by label
// selector (the cluster's other runtimes are other tests'); checks a format at plan time; reads a
// missing one, an error naming it; and reads through ack_cluster_id.
func TestAccClusterServingRuntimeDataSource(t *testing.T) {
	acctest.PreCheck(t)
	test := acctest.RandomName("csrds")
	builtIn := upstreamRuntime(t, kube.ClusterServingRuntime, "torchserve-0.x", "", acctest.RandomName("torchserve-0.x"),
		map[string]string{"asm-test": test})
	createRuntime(t, kube.ClusterServingRuntime, builtIn)
	// Disabled, so that the controller deploys it nowhere; its format is its own.
	custom := testRuntime("", acctest.RandomName("custom"), "my-model")
	custom.SetKind(kube.ClusterServingRuntime.Kind)
	custom.SetLabels(map[string]string{"asm-test": test, "team": "vision"})
	if err := unstructured.SetNestedField(custom.Object, true, "spec", "disabled"); err != nil {
		t.Fatal(err)
	}
	createRuntime(t, kube.ClusterServingRuntime, custom)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)

	const one, list = "data.asm_cluster_serving_runtime.builtin", "data.asm_cluster_serving_runtimes.test"
	reads := dataBlock("asm_cluster_serving_runtime", "builtin", map[string]string{"name": builtIn.GetName()}) +
		dataBlock("asm_cluster_serving_runtimes", "test", map[string]string{"label_selector": "asm-test=" + test})
	checks := append(expectUpstreamRuntime(t, one, tfjsonpath.New[string], builtIn),
		statecheck.ExpectKnownValue(one, tfjsonpath.New("id"), knownvalue.StringExact(builtIn.GetName())),
		statecheck.ExpectKnownValue(one, tfjsonpath.New("protocol_versions"), knownvalue.Null()),
		statecheck.ExpectKnownValue(list, tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{
			knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact(custom.GetName()),
				"id": knownvalue.StringExact(custom.GetName()), "disabled": knownvalue.Bool(true)}),
			knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact(builtIn.GetName())}),
		})),
	)
	checks = append(checks, expectUpstreamRuntime(t, list, listItem(1), builtIn)...)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + reads + formatCheck(builtIn.GetName(), "pytorch-mar") +
					dataBlock("asm_cluster_serving_runtimes", "vision", map[string]string{"label_selector": "asm-test=" + test + ",team=vision"}) +
					dataBlock("asm_cluster_serving_runtimes", "none", map[string]string{"label_selector": "asm-test=" + test + ",team=nobody"}),
				ConfigStateChecks: append(checks,
					statecheck.ExpectKnownValue("data.asm_cluster_serving_runtimes.vision", tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact(custom.GetName())}),
					})),
					statecheck.ExpectKnownValue("data.asm_cluster_serving_runtimes.none", tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{})),
				),
			},
			{
				Config:      acctest.ProviderConfig() + formatCheck(builtIn.GetName(), "onnx"),
				ExpectError: errorPattern(builtIn.GetName() + ` does not serve onnx`),
			},
			{
				Config: acctest.ProviderConfig() +
					dataBlock("asm_cluster_serving_runtime", "missing", map[string]string{"name": "no-such-runtime"}),
				ExpectError: errorPattern(`ClusterServingRuntime "no-such-runtime" not found.*Check the name, or create it first`),
			},
			{
				Config:            acctest.ProviderConfigACK(ack, clusterID, "") + reads,
				ConfigStateChecks: checks,
			},
		},
	})
}
