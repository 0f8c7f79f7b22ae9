package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

const clusterRuntimeAddr = "asm_cluster_serving_runtime.test"

const clusterMLServerRuntime = `
resource "asm_cluster_serving_runtime" "test" {
  name   = %[1]q
  labels = { name = "modelmesh-serving-mlserver-1.x-SR" }
  supported_model_formats = %[3]s
  mlserver = {
    image     = %[2]q
    resources = { requests = { cpu = "500m", memory = "1024Mi" }, limits = { cpu = "5", memory = "1Gi" } }
  }
}
`

func TestAccClusterServingRuntime_basic(t *testing.T) {
	name := acctest.RandomName("mlserver")
	ref := kube.Ref{Kind: kube.ClusterServingRuntime, Name: name}
	formats := `[
    { name = "sklearn", version = "0", auto_select = true },
    { name = "xgboost", version = "1", auto_select = true },
  ]`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ClusterServingRuntime, "asm_cluster_serving_runtime"),
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + fmt.Sprintf(clusterMLServerRuntime, name, "seldonio/mlserver:1.3.2", formats),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(clusterRuntimeAddr, tfjsonpath.New("id"), knownvalue.StringExact(name)),
					statecheck.ExpectKnownValue(clusterRuntimeAddr, tfjsonpath.New("grpc_endpoint"), knownvalue.StringExact("port:8085")),
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					if obj.GetNamespace() != "" {
						return fmt.Errorf("cluster-scoped object has namespace %q", obj.GetNamespace())
					}
					return checkMLServerPreset(obj, "seldonio/mlserver:1.3.2", nil, 90000)
				}),
				// 1024Mi stays as written; nothing to change after a refresh.
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				Config: acctest.ProviderConfig() + fmt.Sprintf(clusterMLServerRuntime, name, "seldonio/mlserver:1.4.0",
					`[{ name = "lightgbm", version = "3", auto_select = true }]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(clusterRuntimeAddr, plancheck.ResourceActionUpdate)},
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					formats, _, _ := unstructured.NestedSlice(obj.Object, "spec", "supportedModelFormats")
					if len(formats) != 1 {
						return fmt.Errorf("supportedModelFormats: got %v", formats)
					}
					return checkMLServerPreset(obj, "seldonio/mlserver:1.4.0", nil, 90000)
				}),
			},
			{
				ResourceName:      clusterRuntimeAddr,
				ImportState:       true,
				ImportStateId:     name,
				ImportStateVerify: true,
			},
			{
				ResourceName:  clusterRuntimeAddr,
				ImportState:   true,
				ImportStateId: "default/" + name,
				ExpectError:   regexp.MustCompile(`Invalid import ID`),
			},
		},
	})
}

const clusterTorchServeRuntime = `
resource "asm_cluster_serving_runtime" "test" {
  name                    = %[1]q
  supported_model_formats = [{ name = "pytorch-mar", version = "0", auto_select = true }]
  multi_model             = true
  grpc_endpoint           = "port:8085"
  grpc_data_endpoint      = "port:7070"
  built_in_adapter = {
    server_type                  = "torchserve"
    runtime_management_port      = 7071
    mem_buffer_bytes             = 134217728
    model_loading_timeout_millis = 90000
  }
  containers = [{
    name  = "torchserve"
    image = "pytorch/torchserve:0.7.1-cpu"
    args  = ["while [ ! -e \"$TS_CONFIG_FILE\" ]; do echo \"waiting for config file...\"; sleep 1; done;", "exec", "torchserve", "--start", "--foreground"]
    env = [
      { name = "TS_CONFIG_FILE", value = "/models/_torchserve_models/mmconfig.properties" },
      { name = "TS_GRPC_INFERENCE_ADDRESS", value = "127.0.0.1" },
    ]
    resources = { requests = { cpu = "500m", memory = "1Gi" }, limits = { cpu = "5", memory = "1Gi" } }
  }]
  %[2]s
}
`

// Containers given in full; an out-of-band delete is recreated.
func TestAccClusterServingRuntime_containersAndDisappears(t *testing.T) {
	name := acctest.RandomName("torchserve")
	ref := kube.Ref{Kind: kube.ClusterServingRuntime, Name: name}
	config := acctest.ProviderConfig() + fmt.Sprintf(clusterTorchServeRuntime, name, "")
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ClusterServingRuntime, "asm_cluster_serving_runtime"),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(clusterRuntimeAddr, tfjsonpath.New("mlserver"), knownvalue.Null()),
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return expectField(obj, 7071, "spec", "builtInAdapter", "runtimeManagementPort")
				}),
			},
			{
				Config:            config,
				ResourceName:      clusterRuntimeAddr,
				ImportState:       true,
				ImportStateId:     name,
				ImportStateVerify: true,
			},
			{
				PreConfig: func() { deleteOutOfBand(t, ref) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(clusterRuntimeAddr, plancheck.ResourceActionCreate)},
				},
			},
			{
				// Another manager edits a managed field: drift. Then it adds an unmanaged one: none.
				PreConfig:          func() { applyAsOther(t, ref, map[string]any{"grpcDataEndpoint": "port:9001"}, nil) },
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: acctest.ProviderConfig() + fmt.Sprintf(clusterTorchServeRuntime, name, "force_conflicts = true"),
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return expectField(obj, "port:7070", "spec", "grpcDataEndpoint")
				}),
			},
			{
				PreConfig: func() { applyAsOther(t, ref, map[string]any{"replicas": int64(3)}, nil) },
				Config:    acctest.ProviderConfig() + fmt.Sprintf(clusterTorchServeRuntime, name, "force_conflicts = true"),
				PlanOnly:  true,
			},
		},
	})
}
