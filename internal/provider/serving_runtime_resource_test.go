package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

const (
	servingRuntimeAddr = "asm_serving_runtime.test"
	// otherManager stands for kubectl or a controller editing the runtime besides Terraform.
	otherManager = "acc-other-manager"
)

// liveObject reads an object straight from the cluster.
func liveObject(t *testing.T, ref kube.Ref) *unstructured.Unstructured {
	t.Helper()
	obj, err := acctest.Kube(t).Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	return obj
}

// applyAsOther server-side-applies a partial object under another field manager, forcing
// ownership of the fields it sets, as `kubectl apply --server-side --force-conflicts` would.
func applyAsOther(t *testing.T, ref kube.Ref, spec map[string]any, labels map[string]any) {
	t.Helper()
	metadata := map[string]any{"name": ref.Name}
	if ref.Namespace != "" {
		metadata["namespace"] = ref.Namespace
	}
	if labels != nil {
		metadata["labels"] = labels
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": ref.Kind.APIVersion(), "kind": ref.Kind.Kind, "metadata": metadata, "spec": spec,
	}}
	res := acctest.Dynamic(t).Resource(ref.Kind.GVR)
	var err error
	if ref.Namespace != "" {
		_, err = res.Namespace(ref.Namespace).Apply(context.Background(), ref.Name, obj, metav1.ApplyOptions{FieldManager: otherManager, Force: true})
	} else {
		_, err = res.Apply(context.Background(), ref.Name, obj, metav1.ApplyOptions{FieldManager: otherManager, Force: true})
	}
	if err != nil {
		t.Fatalf("out-of-band apply to %s: %v", ref, err)
	}
}

// patchAsOther merge-patches the object under another field manager, as `kubectl edit` would.
func patchAsOther(t *testing.T, ref kube.Ref, patch string) {
	t.Helper()
	res := acctest.Dynamic(t).Resource(ref.Kind.GVR)
	var err error
	opts := metav1.PatchOptions{FieldManager: otherManager}
	if ref.Namespace != "" {
		_, err = res.Namespace(ref.Namespace).Patch(context.Background(), ref.Name, k8stypes.MergePatchType, []byte(patch), opts)
	} else {
		_, err = res.Patch(context.Background(), ref.Name, k8stypes.MergePatchType, []byte(patch), opts)
	}
	if err != nil {
		t.Fatalf("out-of-band patch of %s: %v", ref, err)
	}
}

func deleteOutOfBand(t *testing.T, ref kube.Ref) {
	t.Helper()
	ctx := context.Background()
	client := acctest.Kube(t)
	if err := client.Delete(ctx, ref); err != nil {
		t.Fatalf("deleting %s: %v", ref, err)
	}
	if err := client.WaitGone(ctx, ref); err != nil {
		t.Fatalf("waiting for %s to be gone: %v", ref, err)
	}
}

// checkRuntimesDestroyed verifies every runtime of the given kind in state is gone from the cluster.
func checkRuntimesDestroyed(t *testing.T, kind kube.Kind, resourceType string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type != resourceType {
				continue
			}
			ref := kube.Ref{Kind: kind, Namespace: rs.Primary.Attributes["namespace"], Name: rs.Primary.Attributes["name"]}
			_, err := acctest.Kube(t).Get(context.Background(), ref)
			if err == nil {
				return fmt.Errorf("%s still exists after destroy", ref)
			}
			if !kube.IsNotFound(err) {
				return err
			}
		}
		return nil
	}
}

// runtimeCheck verifies the live object with f.
func runtimeCheck(t *testing.T, ref kube.Ref, f func(obj *unstructured.Unstructured) error) resource.TestCheckFunc {
	return func(*terraform.State) error {
		return f(liveObject(t, ref))
	}
}

func nested(obj *unstructured.Unstructured, fields ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	return v
}

func expectField(obj *unstructured.Unstructured, want any, fields ...string) error {
	got := nested(obj, fields...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("%s: got %v, want %v", strings.Join(fields, "."), got, want)
	}
	return nil
}

// providerWithNamespace is the environment's provider block with kubernetes.namespace set.
func providerWithNamespace(namespace string) string {
	cfg := acctest.ProviderConfig()
	setting := fmt.Sprintf("    namespace = %q\n", namespace)
	if strings.Contains(cfg, "  kubernetes {\n") {
		return strings.Replace(cfg, "  kubernetes {\n", "  kubernetes {\n"+setting, 1)
	}
	return strings.Replace(cfg, "provider \"asm\" {}", "provider \"asm\" {\n  kubernetes {\n"+setting+"  }\n}", 1)
}

const tritonRuntime = `
resource "asm_serving_runtime" "test" {
  name      = %[1]q
  namespace = %[2]q
  labels      = { "app.kubernetes.io/part-of" = "acc" }
  annotations = { "example.com/owner" = "acc" }

  supported_model_formats = [
    { name = "onnx", version = "1", auto_select = true },
    { name = "tensorflow", version = "1", priority = 2 },
    { name = "tensorflow", version = "2", priority = 2 },
  ]
  multi_model        = true
  protocol_versions  = ["grpc-v2"]
  grpc_endpoint      = "port:8085"
  grpc_data_endpoint = "port:8001"
  http_data_endpoint = "port:8002"
  replicas           = 2

  built_in_adapter = {
    server_type                  = "triton"
    runtime_management_port      = 8001
    mem_buffer_bytes             = 134217728
    model_loading_timeout_millis = 90000
    env                          = [{ name = "LOG_LEVEL", value = "debug" }]
  }

  containers = [{
    name              = "triton"
    image             = %[3]q
    image_pull_policy = "IfNotPresent"
    command           = ["/bin/sh"]
    args              = ["-c", "exec tritonserver --model-repository=/models/_triton_models"]
    working_dir       = "/workspace"
    env = [
      { name = "PLAIN", value = "x" },
      { name = "FROM_SECRET", value_from = { secret_key_ref = { name = "creds", key = "token" } } },
      { name = "FROM_CM", value_from = { config_map_key_ref = { name = "cfg", key = "k", optional = true } } },
      { name = "POD_NAME", value_from = { field_ref = { field_path = "metadata.name" } } },
    ]
    ports     = [{ container_port = 8001, name = "triton-grpc" }]
    resources = { requests = { cpu = "500m", memory = %[4]q }, limits = { cpu = 5, memory = "1Gi" } }
    volume_mounts = [{ name = "cache", mount_path = "/cache" }]
    liveness_probe = {
      exec                  = { command = ["curl", "--fail", "http://localhost:8000/v2/health/live"] }
      initial_delay_seconds = 5
      period_seconds        = 30
      timeout_seconds       = 10
    }
    startup_probe = { tcp_socket = { port = "triton-grpc" }, failure_threshold = 30 }
  }]

  volumes = [
    { name = "cache", empty_dir = { size_limit = "1Gi" } },
    { name = "creds", secret = { secret_name = "creds", items = [{ key = "token", path = "token" }] } },
    { name = "cfg", config_map = { name = "cfg", default_mode = 420 } },
    { name = "data", persistent_volume_claim = { claim_name = "data", read_only = true } },
  ]
  node_selector      = { "kubernetes.io/os" = "linux" }
  tolerations        = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]
  affinity           = jsonencode({ nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = [{ matchExpressions = [{ key = "kubernetes.io/arch", operator = "In", values = ["amd64"] }] }] } } })
  image_pull_secrets = ["registry"]
  pod_labels         = { team = "ml" }
  pod_annotations    = { "prometheus.io/scrape" = "true" }
  spec_overrides_json = jsonencode({ containers = [{ name = "triton", securityContext = { runAsNonRoot = true } }] })
}
`

func TestAccServingRuntime_basic(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("triton")
	ref := kube.Ref{Kind: kube.ServingRuntime, Namespace: ns, Name: name}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + fmt.Sprintf(tritonRuntime, name, ns, "nvcr.io/nvidia/tritonserver:23.04-py3", "1024Mi"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("id"), knownvalue.StringExact(ns+"/"+name)),
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("containers").AtSliceIndex(0).AtMapKey("ports").
						AtSliceIndex(0).AtMapKey("protocol"), knownvalue.StringExact("TCP")),
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("force_conflicts"), knownvalue.Bool(false)),
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					for _, c := range []struct {
						want   any
						fields []string
					}{
						{"acc", []string{"metadata", "labels", "app.kubernetes.io/part-of"}},
						{"onnx", []string{"spec", "supportedModelFormats"}},
						{"port:8002", []string{"spec", "httpDataEndpoint"}},
						{2, []string{"spec", "replicas"}},
						{"triton", []string{"spec", "builtInAdapter", "serverType"}},
						{"linux", []string{"spec", "nodeSelector", "kubernetes.io/os"}},
						{"ml", []string{"spec", "labels", "team"}},
						{"true", []string{"spec", "annotations", "prometheus.io/scrape"}},
					} {
						got := fmt.Sprint(nested(obj, c.fields...))
						if !strings.Contains(got, fmt.Sprint(c.want)) {
							return fmt.Errorf("%s: got %s, want %v", strings.Join(c.fields, "."), got, c.want)
						}
					}
					containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "containers")
					if len(containers) != 1 {
						return fmt.Errorf("containers: got %d", len(containers))
					}
					container, _ := containers[0].(map[string]any)
					c := &unstructured.Unstructured{Object: container}
					for _, e := range []error{
						expectField(c, "1024Mi", "resources", "requests", "memory"),
						expectField(c, "5", "resources", "limits", "cpu"),
						expectField(c, 30, "livenessProbe", "periodSeconds"),
						expectField(c, "triton-grpc", "startupProbe", "tcpSocket", "port"),
						expectField(c, true, "securityContext", "runAsNonRoot"),
					} {
						if e != nil {
							return e
						}
					}
					secrets := fmt.Sprint(nested(obj, "spec", "imagePullSecrets"))
					if secrets != "[map[name:registry]]" {
						return fmt.Errorf("imagePullSecrets: got %s", secrets)
					}
					return nil
				}),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				// Update in place: image, a quantity, replicas, a label; tolerations removed.
				Config: acctest.ProviderConfig() + strings.Replace(strings.Replace(
					fmt.Sprintf(tritonRuntime, name, ns, "nvcr.io/nvidia/tritonserver:23.05-py3", "2Gi"),
					"replicas           = 2", "replicas           = 3", 1),
					`tolerations        = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]`, "", 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionUpdate)},
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					if err := expectField(obj, 3, "spec", "replicas"); err != nil {
						return err
					}
					if v := nested(obj, "spec", "tolerations"); v != nil {
						return fmt.Errorf("tolerations still set: %v", v)
					}
					return nil
				}),
			},
			{
				ResourceName:      servingRuntimeAddr,
				ImportState:       true,
				ImportStateId:     ns + "/" + name,
				ImportStateVerify: true,
			},
		},
	})
}

// mlserverExpectedEnv is upstream mlserver-1.x's container environment (kserve/modelmesh-serving
// config/runtimes/mlserver-1.x.yaml), kept here independently of the preset's code.
var mlserverExpectedEnv = []map[string]any{
	{"name": "MLSERVER_MODELS_DIR", "value": "/models/_mlserver_models/"},
	{"name": "MLSERVER_GRPC_PORT", "value": "8001"},
	{"name": "MLSERVER_HTTP_PORT", "value": "8002"},
	{"name": "MLSERVER_LOAD_MODELS_AT_STARTUP", "value": "false"},
	{"name": "MLSERVER_MODEL_NAME", "value": "dummy-model-fixme"},
	{"name": "MLSERVER_HOST", "value": "127.0.0.1"},
	{"name": "MLSERVER_GRPC_MAX_MESSAGE_LENGTH", "value": "-1"},
}

// checkMLServerPreset compares the live runtime, field by field, with what upstream mlserver-1.x sets.
func checkMLServerPreset(obj *unstructured.Unstructured, image string, extraEnv []map[string]any, adapterTimeout int64) error {
	checks := []struct {
		want   any
		fields []string
	}{
		{"port:8085", []string{"spec", "grpcEndpoint"}},
		{"port:8001", []string{"spec", "grpcDataEndpoint"}},
		{true, []string{"spec", "multiModel"}},
		{[]any{"grpc-v2"}, []string{"spec", "protocolVersions"}},
		{"mlserver", []string{"spec", "builtInAdapter", "serverType"}},
		{int64(8001), []string{"spec", "builtInAdapter", "runtimeManagementPort"}},
		{int64(134217728), []string{"spec", "builtInAdapter", "memBufferBytes"}},
		{adapterTimeout, []string{"spec", "builtInAdapter", "modelLoadingTimeoutMillis"}},
	}
	for _, c := range checks {
		if got := nested(obj, c.fields...); !reflect.DeepEqual(got, c.want) {
			return fmt.Errorf("%s: got %#v, want %#v", strings.Join(c.fields, "."), got, c.want)
		}
	}
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "containers")
	if len(containers) != 1 {
		return fmt.Errorf("want exactly one container, got %d", len(containers))
	}
	c, _ := containers[0].(map[string]any)
	if c["name"] != "mlserver" || c["image"] != image {
		return fmt.Errorf("container: got name %v image %v", c["name"], c["image"])
	}
	env, _ := c["env"].([]any)
	want := append(append([]map[string]any{}, mlserverExpectedEnv...), extraEnv...)
	if len(env) != len(want) {
		return fmt.Errorf("env: got %d variables %v, want %d %v", len(env), env, len(want), want)
	}
	for i, e := range env {
		if !reflect.DeepEqual(e, want[i]) {
			return fmt.Errorf("env[%d]: got %v, want %v", i, e, want[i])
		}
	}
	return nil
}

const mlserverRuntime = `
resource "asm_serving_runtime" "test" {
  name      = %[1]q
  namespace = %[2]q
  supported_model_formats = [
    { name = "sklearn", version = "0", auto_select = true },
    { name = "xgboost", version = "1", auto_select = true },
    { name = "lightgbm", version = "3", auto_select = true },
  ]
  mlserver = {
    image          = %[3]q
    implementation = "custom_model.CustomMLModel"
    %[4]s
    resources = {
      requests = { cpu = "500m", memory = "1Gi" }
      limits   = { cpu = "5", memory = "1Gi" }
    }
    env = [{ name = "EXTRA", value = "1" }]
  }
  %[5]s
}
`

func TestAccServingRuntime_mlserverPreset(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("mlserver")
	ref := kube.Ref{Kind: kube.ServingRuntime, Namespace: ns, Name: name}
	implementation := map[string]any{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "custom_model.CustomMLModel"}
	extra := map[string]any{"name": "EXTRA", "value": "1"}
	containerPath := tfjsonpath.New("containers").AtSliceIndex(0)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + fmt.Sprintf(mlserverRuntime, name, ns, "seldonio/mlserver:1.3.2", "debug = true", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					// The plan already shows the expansion.
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("grpc_endpoint"), knownvalue.StringExact("port:8085")),
						plancheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("built_in_adapter").AtMapKey("server_type"),
							knownvalue.StringExact("mlserver")),
						plancheck.ExpectKnownValue(servingRuntimeAddr, containerPath.AtMapKey("name"), knownvalue.StringExact("mlserver")),
						plancheck.ExpectKnownValue(servingRuntimeAddr, containerPath.AtMapKey("env").AtSliceIndex(8).AtMapKey("name"),
							knownvalue.StringExact("MLSERVER_DEBUG")),
					},
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return checkMLServerPreset(obj, "seldonio/mlserver:1.3.2", []map[string]any{implementation,
						{"name": "MLSERVER_DEBUG", "value": "true"}, {"name": "MLSERVER_MODEL_PARALLEL_WORKERS", "value": "0"}, extra}, 90000)
				}),
			},
			{
				ResourceName:      servingRuntimeAddr,
				ImportState:       true,
				ImportStateId:     ns + "/" + name,
				ImportStateVerify: true,
			},
			{
				// debug off, a new image and one adapter setting overridden; the preset fills the rest.
				Config: acctest.ProviderConfig() + fmt.Sprintf(mlserverRuntime, name, ns, "seldonio/mlserver:1.4.0", "",
					"built_in_adapter = { model_loading_timeout_millis = 120000 }"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionUpdate)},
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return checkMLServerPreset(obj, "seldonio/mlserver:1.4.0", []map[string]any{implementation, extra}, 120000)
				}),
			},
			{
				ResourceName:      servingRuntimeAddr,
				ImportState:       true,
				ImportStateId:     ns + "/" + name,
				ImportStateVerify: true,
			},
		},
	})
}

const defaultNamespaceRuntime = `
resource "asm_serving_runtime" "test" {
  name       = %[1]q
  containers = [{ name = "ovms", image = "openvino/model_server:2022.2", args = ["--port=8001", "--rest_port=8888"] }]
  built_in_adapter = { server_type = "ovms", runtime_management_port = 8888 }
  multi_model = true
  grpc_endpoint = "port:8085"
}
`

// The namespace defaults to the provider's, and a bare name imports from there.
func TestAccServingRuntime_defaultNamespaceAndImportByName(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("ovms")
	config := providerWithNamespace(ns) + fmt.Sprintf(defaultNamespaceRuntime, name)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("namespace"), knownvalue.StringExact(ns)),
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("id"), knownvalue.StringExact(ns+"/"+name)),
					// Not set, not sent, and so unset: the preset only applies with mlserver.
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("grpc_data_endpoint"), knownvalue.Null()),
					statecheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("built_in_adapter").AtMapKey("mem_buffer_bytes"), knownvalue.Null()),
				},
			},
			{
				Config:            config,
				ResourceName:      servingRuntimeAddr,
				ImportState:       true,
				ImportStateId:     name,
				ImportStateVerify: true,
			},
			{
				Config:        config,
				ResourceName:  servingRuntimeAddr,
				ImportState:   true,
				ImportStateId: "a/b/c",
				ExpectError:   regexp.MustCompile(`Invalid import ID`),
			},
		},
	})
}

// A runtime another tool created (kubectl, an install) is imported in full, though this provider
// never applied any of its fields: the configuration that matches it plans no change.
func TestAccServingRuntime_importObjectCreatedElsewhere(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("elsewhere")
	createServingRuntime(t, ns, name, "sklearn")
	config := acctest.ProviderConfig() + fmt.Sprintf(`
resource "asm_serving_runtime" "test" {
  name                    = %q
  namespace               = %q
  supported_model_formats = [{ name = "sklearn", version = "0", auto_select = true }]
  multi_model             = true
  protocol_versions       = ["grpc-v2"]
  grpc_endpoint           = "port:8085"
  grpc_data_endpoint      = "port:8001"
  containers              = [{ name = "mlserver", image = "mlserver:test" }]
  built_in_adapter        = { server_type = "mlserver", runtime_management_port = 8001 }
}
`, name, ns)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{
				Config:             config,
				ResourceName:       servingRuntimeAddr,
				ImportState:        true,
				ImportStateId:      ns + "/" + name,
				ImportStatePersist: true,
			},
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionNoop),
				}},
			},
		},
	})
}

const driftRuntime = `
resource "asm_serving_runtime" "test" {
  name               = %[1]q
  namespace          = %[2]q
  force_conflicts    = %[3]t
  labels             = { managed = "yes" }
  grpc_data_endpoint = "port:8001"
  replicas           = 1
  node_selector      = { "kubernetes.io/os" = "linux" }
  containers = [{
    name      = "server"
    image     = "example.com/server:1"
    resources = { requests = { memory = "1024Mi" } }
  }]
}
`

// Changes others make to fields Terraform manages show in the plan; changes to anything else,
// or that only respell a quantity, do not.
func TestAccServingRuntime_outOfBandChanges(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("drift")
	ref := kube.Ref{Kind: kube.ServingRuntime, Namespace: ns, Name: name}
	config := acctest.ProviderConfig() + fmt.Sprintf(driftRuntime, name, ns, true)
	expectUpdate := resource.ConfigPlanChecks{
		PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionUpdate)},
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{Config: config},
			{
				// Another manager takes over a field Terraform set (server-side apply, forced).
				PreConfig:          func() { applyAsOther(t, ref, map[string]any{"grpcDataEndpoint": "port:9001"}, nil) },
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks:   expectUpdate,
			},
			{
				// force_conflicts takes the field back.
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionUpdate)},
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return expectField(obj, "port:8001", "spec", "grpcDataEndpoint")
				}),
			},
			{
				// kubectl edit of a managed field and a managed label.
				PreConfig:          func() { patchAsOther(t, ref, `{"metadata":{"labels":{"managed":"no"}},"spec":{"replicas":5}}`) },
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks:   expectUpdate,
			},
			{Config: config},
			{
				// Fields Terraform does not manage: a spec field, keys of maps it manages some keys of,
				// and the containers respelling 1024Mi as 1Gi.
				PreConfig: func() {
					applyAsOther(t, ref, map[string]any{
						"httpDataEndpoint": "port:8002",
						"nodeSelector":     map[string]any{"example.com/pool": "gpu"},
						"labels":           map[string]any{"sidecar": "injected"},
						"containers": []any{map[string]any{"name": "server", "image": "example.com/server:1",
							"resources": map[string]any{"requests": map[string]any{"memory": "1Gi"}}}},
					}, map[string]any{"other": "label"})
					patchAsOther(t, ref, `{"metadata":{"annotations":{"note":"hand-edited"}}}`)
				},
				Config:   config,
				PlanOnly: true,
			},
		},
	})
}

// An apply that would change a field another manager owns fails and names it, until
// force_conflicts is set.
func TestAccServingRuntime_conflict(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("conflict")
	ref := kube.Ref{Kind: kube.ServingRuntime, Namespace: ns, Name: name}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{Config: acctest.ProviderConfig() + fmt.Sprintf(driftRuntime, name, ns, false)},
			{
				PreConfig:   func() { applyAsOther(t, ref, map[string]any{"grpcDataEndpoint": "port:9001"}, nil) },
				Config:      acctest.ProviderConfig() + fmt.Sprintf(driftRuntime, name, ns, false),
				ExpectError: regexp.MustCompile(`(?s)conflict.*` + otherManager + `.*force_conflicts`),
			},
			{
				Config: acctest.ProviderConfig() + fmt.Sprintf(driftRuntime, name, ns, true),
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return expectField(obj, "port:8001", "spec", "grpcDataEndpoint")
				}),
			},
		},
	})
}

func TestAccServingRuntime_disappears(t *testing.T) {
	ns := acctest.CreateNamespace(t, "acc-sr")
	name := acctest.RandomName("gone")
	ref := kube.Ref{Kind: kube.ServingRuntime, Namespace: ns, Name: name}
	config := acctest.ProviderConfig() + fmt.Sprintf(driftRuntime, name, ns, false)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() { deleteOutOfBand(t, ref) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionCreate)},
				},
				Check: runtimeCheck(t, ref, func(obj *unstructured.Unstructured) error {
					return expectField(obj, "port:8001", "spec", "grpcDataEndpoint")
				}),
			},
		},
	})
}

// quickstartRuntime is the runtime of examples/quickstart, as it stands there but for its image
// variable and its dependency on the cluster attachment.
func quickstartRuntime(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../examples/quickstart/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\nresource "asm_serving_runtime" "my_model_server" \{\n.*?\n\}\n`).FindString(string(raw))
	if !strings.Contains(block, "var.runtime_image") || !strings.Contains(block, "depends_on = [asm_cluster_attachment.ack]") {
		t.Fatalf("the quickstart's runtime is no longer asm_serving_runtime.my_model_server with var.runtime_image and "+
			"depends_on = [asm_cluster_attachment.ack]:\n%s", block)
	}
	block = strings.Replace(block, "var.runtime_image", `"registry.example.com/my-model-server:0.1"`, 1)
	return strings.Replace(block, "depends_on = [asm_cluster_attachment.ack]", "", 1)
}

// The guide calls an InferenceService's runtime optional: with the quickstart's runtime, a model of
// its format that names no runtime is served by it (ModelMesh picks auto-select runtimes only).
func TestAccServingRuntime_quickstartRuntimeAutoSelected(t *testing.T) {
	ns := acctest.CreateModelNamespace(t, "acc-sr")
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkRuntimesDestroyed(t, kube.ServingRuntime, "asm_serving_runtime"),
		Steps: []resource.TestStep{{
			Config: providerWithNamespace(ns) + quickstartRuntime(t) + `
resource "asm_inference_service" "test" {
  name = "my-model-sample"
  model_format {
    name = "my-model"
  }
  storage {
    key  = "localMinIO"
    path = "my-model/model.json"
  }
  depends_on = [asm_serving_runtime.my_model_server]
  # Without a runtime to serve it, the model never loads; fail well before go test's own timeout.
  timeouts {
    create = "3m"
  }
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("asm_inference_service.test", tfjsonpath.New("ready"), knownvalue.Bool(true)),
			},
		}},
	})
}

// A create plans without the cluster, including values only known at apply.
func TestServingRuntime_planWithUnreachableCluster(t *testing.T) {
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfigUnreachableKube() + `
resource "terraform_data" "tag" {}

resource "asm_serving_runtime" "test" {
  name = "mlserver-1.x"
  supported_model_formats = [{ name = "sklearn", auto_select = true }]
  mlserver = {
    image = "seldonio/mlserver:${terraform_data.tag.id}"
    env   = [{ name = "TAG", value = terraform_data.tag.id }]
  }
}

resource "asm_serving_runtime" "known" {
  name      = "mlserver-known"
  namespace = "models"
  mlserver  = { image = "seldonio/mlserver:1.3.2", resources = { limits = { memory = "1024Mi" } } }
}
`,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(servingRuntimeAddr, plancheck.ResourceActionCreate),
					plancheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("namespace"), knownvalue.StringExact("modelmesh-serving")),
					plancheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("id"), knownvalue.StringExact("modelmesh-serving/mlserver-1.x")),
					plancheck.ExpectKnownValue(servingRuntimeAddr, tfjsonpath.New("grpc_data_endpoint"), knownvalue.StringExact("port:8001")),
					plancheck.ExpectUnknownValue(servingRuntimeAddr, tfjsonpath.New("containers")),
					plancheck.ExpectKnownValue("asm_serving_runtime.known", tfjsonpath.New("containers").AtSliceIndex(0).AtMapKey("env").
						AtSliceIndex(4).AtMapKey("value"), knownvalue.StringExact("dummy-model-fixme")),
					plancheck.ExpectKnownValue("asm_serving_runtime.known", tfjsonpath.New("containers").AtSliceIndex(0).AtMapKey("resources").
						AtMapKey("limits").AtMapKey("memory"), knownvalue.StringExact("1024Mi")),
				},
			},
		}},
	})
}

// The preset gives its container upstream mlserver-1.x's resources (kserve/modelmesh-serving
// config/runtimes/mlserver-1.x.yaml) unless mlserver.resources is set; set, it replaces them whole.
func TestServingRuntime_mlserverPresetResources(t *testing.T) {
	quantities := func(cpu, memory string) knownvalue.Check {
		return knownvalue.MapExact(map[string]knownvalue.Check{"cpu": knownvalue.StringExact(cpu), "memory": knownvalue.StringExact(memory)})
	}
	upstream := knownvalue.ObjectExact(map[string]knownvalue.Check{"requests": quantities("500m", "1Gi"), "limits": quantities("5", "1Gi")})
	containerResources := tfjsonpath.New("containers").AtSliceIndex(0).AtMapKey("resources")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfigUnreachableKube() + `
resource "asm_serving_runtime" "unset" {
  name     = "unset"
  mlserver = { image = "seldonio/mlserver:1.3.2" }
}

resource "asm_serving_runtime" "set" {
  name     = "set"
  mlserver = { image = "seldonio/mlserver:1.3.2", resources = { limits = { memory = "2Gi" } } }
}

resource "asm_serving_runtime" "none" {
  name     = "none"
  mlserver = { image = "seldonio/mlserver:1.3.2", resources = {} }
}
`,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue("asm_serving_runtime.unset", tfjsonpath.New("mlserver").AtMapKey("resources"), upstream),
					plancheck.ExpectKnownValue("asm_serving_runtime.unset", containerResources, upstream),
					plancheck.ExpectKnownValue("asm_serving_runtime.set", containerResources, knownvalue.ObjectExact(map[string]knownvalue.Check{
						"requests": knownvalue.Null(),
						"limits":   knownvalue.MapExact(map[string]knownvalue.Check{"memory": knownvalue.StringExact("2Gi")}),
					})),
					plancheck.ExpectKnownValue("asm_serving_runtime.none", containerResources, knownvalue.ObjectExact(map[string]knownvalue.Check{
						"requests": knownvalue.Null(), "limits": knownvalue.Null(),
					})),
				},
			},
		}},
	})
}

// wrapped matches words however Terraform wraps the diagnostic.
func wrapped(words string) *regexp.Regexp {
	parts := strings.Fields(words)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(strings.Join(parts, `\s+`))
}

// Invalid input is rejected at plan, offline, naming the attribute.
func TestServingRuntime_validation(t *testing.T) {
	container := `containers = [{ name = "server", image = "example.com/server:1" }]`
	cases := []struct {
		name, body, want string
	}{
		{"name", `name = "Bad_Name"` + "\n" + container, `Attribute name must be a lowercase RFC 1123 subdomain`},
		{"namespace", `name = "ok"` + "\n" + `namespace = "a.b"` + "\n" + container, `Attribute namespace must be a lowercase RFC 1123 label`},
		{"endpoint port", `name = "ok"` + "\n" + `grpc_data_endpoint = "port:70000"` + "\n" + container,
			"Attribute grpc_data_endpoint must be `port:<1-65535>` or `unix:<path>`"},
		{"endpoint form", `name = "ok"` + "\n" + `http_data_endpoint = "tcp:8080"` + "\n" + container,
			"Attribute http_data_endpoint must be `port:<1-65535>` or `unix:<path>`"},
		{"quantity", `name = "ok"
containers = [{ name = "server", image = "i", resources = { limits = { memory = "1GB" } } }]`,
			`Attribute containers[0].resources.limits["memory"] value must be a resource name with a Kubernetes quantity`},
		{"volume quantity", `name = "ok"
` + container + `
volumes = [{ name = "scratch", empty_dir = { size_limit = "lots" } }]`, `Attribute volumes[0].empty_dir.size_limit must be a Kubernetes quantity`},
		{"env name", `name = "ok"
containers = [{ name = "server", image = "i", env = [{ name = "1BAD", value = "x" }] }]`,
			`Attribute containers[0].env[0].name must be a valid environment variable name`},
		{"env value and value_from", `name = "ok"
containers = [{ name = "server", image = "i", env = [{ name = "A", value = "x", value_from = { field_ref = { field_path = "metadata.name" } } }] }]`,
			`containers[0].env[0].value_from`},
		{"duplicate formats", `name = "ok"
` + container + `
supported_model_formats = [{ name = "sklearn" }, { name = "sklearn" }]`,
			`Attribute supported_model_formats[1].name with version unset must be unique in the list`},
		{"priority", `name = "ok"
` + container + `
supported_model_formats = [{ name = "sklearn", priority = 0 }]`, `Attribute supported_model_formats[0].priority value must be at least 1`},
		{"duplicate containers", `name = "ok"
containers = [{ name = "a", image = "i" }, { name = "a", image = "j" }]`, `Attribute containers[1].name must be unique in the list`},
		{"both containers and mlserver", `name = "ok"
` + container + `
mlserver = { image = "seldonio/mlserver:1.3.2" }`, `Exactly one of these attributes must be configured: [containers,mlserver]`},
		{"neither containers nor mlserver", `name = "ok"`, `Exactly one of these attributes must be configured: [containers,mlserver]`},
		{"multi-model without grpc_endpoint", `name = "ok"
` + container + `
multi_model = true`, `Missing grpc_endpoint for a multi-model runtime`},
		{"preset env", `name = "ok"
mlserver = { image = "i", env = [{ name = "MLSERVER_GRPC_PORT", value = "9000" }] }`,
			`Attribute mlserver.env[0].name must not be a variable the mlserver preset sets`},
		{"implementation", `name = "ok"
mlserver = { image = "i", implementation = "not a class" }`, `Attribute mlserver.implementation must be module.Class`},
		{"probe handlers", `name = "ok"
containers = [{ name = "server", image = "i", liveness_probe = { exec = { command = ["true"] }, tcp_socket = { port = 8080 } } }]`,
			"Attribute containers[0].liveness_probe: exactly one of `exec`, `http_get`, `tcp_socket` must be set"},
		{"probe port", `name = "ok"
containers = [{ name = "server", image = "i", liveness_probe = { tcp_socket = { port = 70000 } } }]`,
			`Attribute containers[0].liveness_probe.tcp_socket.port must be a port number`},
		{"readiness probe", `name = "ok"
containers = [{ name = "server", image = "i", readiness_probe = { tcp_socket = { port = 8000 } } }]`,
			`Readiness probe managed by ModelMesh`},
		{"reserved container name", `name = "ok"
containers = [{ name = "mm-sidecar", image = "i" }]`, `Container name reserved by ModelMesh`},
		{"adapter without its container", `name = "ok"
containers = [{ name = "server", image = "i" }]
built_in_adapter = { server_type = "triton" }`, `No container for the built-in adapter`},
		{"duplicate format versions", `name = "ok"
` + container + `
supported_model_formats = [{ name = "tensorflow", version = "1" }, { name = "tensorflow", version = "1" }]`,
			`Attribute supported_model_formats[1].name with version "1" must be unique in the list`},
		{"volume sources", `name = "ok"
` + container + `
volumes = [{ name = "v", empty_dir = {}, secret = { secret_name = "s" } }]`, "Attribute volumes[0]: at most one of"},
		{"label", `name = "ok"
` + container + `
labels = { "bad key!" = "x" }`, `Attribute labels["bad key!"] key must be a valid Kubernetes label`},
		{"affinity", `name = "ok"
` + container + `
affinity = "[1]"`, `Attribute affinity must be a JSON object`},
		{"overrides typed field", `name = "ok"
` + container + `
spec_overrides_json = jsonencode({ grpcEndpoint = "port:1" })`, `spec.grpcEndpoint is set through a typed attribute`},
		{"overrides unknown item", `name = "ok"
` + container + `
spec_overrides_json = jsonencode({ containers = [{ name = "other", tty = true }] })`, `there is no typed item named "other"`},
		// The ModelMesh controller's ServingRuntime webhook refuses these (servingruntime_webhook.go).
		{"autoscaler class", `name = "ok"
mlserver = { image = "i" }
annotations = { "serving.kserve.io/autoscalerClass" = "external" }`, `ModelMesh scales runtimes with the autoscaler class "hpa" only, not "external".`},
		{"autoscaler and replicas", `name = "ok"
mlserver = { image = "i" }
replicas = 2
annotations = { "serving.kserve.io/autoscalerClass" = "hpa" }`, `the autoscaler sets the number of Pods: remove replicas`},
		{"autoscaler metric", `name = "ok"
mlserver = { image = "i" }
annotations = { "serving.kserve.io/autoscalerClass" = "hpa", "serving.kserve.io/metrics" = "gpu" }`, `The autoscaler scales on "cpu" or "memory", not "gpu".`},
		{"autoscaler bounds", `name = "ok"
mlserver = { image = "i" }
annotations = { "serving.kserve.io/autoscalerClass" = "hpa", "serving.kserve.io/min-scale" = "3" }`,
			`max-scale (1, 1 when unset) must be at least min-scale (3).`},
		{"target utilization", `name = "ok"
mlserver = { image = "i" }
annotations = { "serving.kserve.io/targetUtilizationPercentage" = "150" }`, `The target utilization must be an integer from 1 to 100, not "150".`},
		{"overrides typed container field", `name = "ok"
mlserver = { image = "i" }
spec_overrides_json = jsonencode({ containers = [{ name = "mlserver", image = "j" }] })`,
			`spec.containers[name=mlserver].image is set through a typed attribute`},
	}
	steps := make([]resource.TestStep, 0, len(cases))
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			Config:      acctest.ProviderConfigUnreachableKube() + "resource \"asm_serving_runtime\" \"test\" {\n" + c.body + "\n}\n",
			PlanOnly:    true,
			ExpectError: wrapped(c.want),
		})
	}
	resource.UnitTest(t, resource.TestCase{ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories, Steps: steps})
}

// The documentation examples validate and plan, offline.
func TestServingRuntime_examplesPlan(t *testing.T) {
	paths := []string{
		filepath.Join("resources", "asm_serving_runtime", "resource.tf"),
		filepath.Join("resources", "asm_cluster_serving_runtime", "resource.tf"),
	}
	for _, rt := range builtInRuntimes {
		paths = append(paths, filepath.Join("runtimes", rt.name, "main.tf"))
	}
	for _, path := range paths {
		example, err := os.ReadFile(filepath.Join("..", "..", "examples", path))
		if err != nil {
			t.Fatal(err)
		}
		resource.UnitTest(t, resource.TestCase{
			ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
			Steps: []resource.TestStep{{
				Config:             acctest.ProviderConfigUnreachableKube() + string(example),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			}},
		})
	}
}
