package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

const isvcAddr = "asm_inference_service.test"

// isvcTest is one InferenceService under test, in a namespace of its own with a runtime for sklearn.
type isvcTest struct {
	namespace, name, runtime string
}

func newISVCTest(t *testing.T) isvcTest {
	t.Helper()
	acctest.PreCheck(t)
	tc := isvcTest{namespace: acctest.CreateModelNamespace(t, "isvc"), name: acctest.RandomName("model"), runtime: "mlserver-test"}
	createServingRuntime(t, tc.namespace, tc.runtime, "sklearn")
	return tc
}

// requireLocalModelMesh skips tests whose models only load, fail or stall on purpose on the local
// stack, where model-mesh's stand-in loads any path and fails or stalls the marked ones
// (acctest.FailPathMarker, acctest.SlowPathMarker): a real model-mesh needs real model files.
func requireLocalModelMesh(t *testing.T) {
	t.Helper()
	acctest.PreCheck(t)
	if acctest.LocalModelMesh() == nil {
		t.Skip("needs the local stack's ModelMesh")
	}
}

// createServingRuntime writes a multi-model runtime for the formats out of band, as a platform team would.
func createServingRuntime(t *testing.T, namespace, name string, formats ...string) {
	t.Helper()
	createRuntimeObject(t, testRuntime(namespace, name, formats...))
}

func createRuntimeObject(t *testing.T, obj *unstructured.Unstructured) {
	t.Helper()
	if _, err := acctest.Dynamic(t).Resource(kube.ServingRuntime.GVR).Namespace(obj.GetNamespace()).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testRuntime is a multi-model runtime for the formats, each auto-selected at version 0.
func testRuntime(namespace, name string, formats ...string) *unstructured.Unstructured {
	supported := []any{}
	for _, f := range formats {
		supported = append(supported, map[string]any{"name": f, "version": "0", "autoSelect": true})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.ServingRuntime.APIVersion(), "kind": kube.ServingRuntime.Kind,
		"metadata": map[string]any{"name": name, "namespace": namespace},
		// The endpoints, container name and adapter of upstream mlserver-1.x: without grpcEndpoint
		// the ModelMesh controller crashes on the runtime (TestControllerCrashesOnRuntimeWithoutGRPCEndpoint),
		// and it deploys no runtime whose built-in adapter has no container of the server type's name
		// (controllers/servingruntime_validator.go validateBuiltInAdapterSpec).
		"spec": map[string]any{
			"supportedModelFormats": supported, "multiModel": true,
			"protocolVersions": []any{"grpc-v2"}, "grpcEndpoint": "port:8085", "grpcDataEndpoint": "port:8001",
			"containers":     []any{map[string]any{"name": "mlserver", "image": "mlserver:test"}},
			"builtInAdapter": map[string]any{"serverType": "mlserver", "runtimeManagementPort": int64(8001)},
		},
	}}
}

// config renders the resource; body holds extra arguments and blocks.
func (tc isvcTest) config(path, body string) string {
	return acctest.ProviderConfig() + tc.block("test", tc.name, path, body)
}

func (tc isvcTest) block(resourceName, name, path, body string) string {
	return acctest.Model{Label: resourceName, Name: name, Namespace: tc.namespace, Format: acctest.Format{Name: "sklearn", Version: "0"},
		Path: path, Extra: body}.HCL()
}

func (tc isvcTest) ref() kube.Ref {
	return kube.Ref{Kind: kube.InferenceService, Namespace: tc.namespace, Name: tc.name}
}

func (tc isvcTest) live(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	obj, err := acctest.Kube(t).Get(context.Background(), tc.ref())
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// checkLive runs check on the object in the cluster.
func (tc isvcTest) checkLive(t *testing.T, check func(*unstructured.Unstructured) error) resource.TestCheckFunc {
	return func(*terraform.State) error { return check(tc.live(t)) }
}

// loadedWithPath proves the wait was for the applied spec: the live object has the path and its
// status, written by the ModelMesh controller (which writes no observedGeneration), is Loaded.
func loadedWithPath(path string) func(*unstructured.Unstructured) error {
	return func(obj *unstructured.Unstructured) error {
		gotPath, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storage", "path")
		s := statusOf(obj)
		if gotPath != path || s.ActiveModelState.ValueString() != "Loaded" || s.TransitionStatus.ValueString() != "UpToDate" {
			return fmt.Errorf("live object: path %q (want %q), active %s, transition %s",
				gotPath, path, s.ActiveModelState, s.TransitionStatus)
		}
		return nil
	}
}

func (tc isvcTest) checkGone(t *testing.T) resource.TestCheckFunc {
	return func(*terraform.State) error {
		_, err := acctest.Kube(t).Get(context.Background(), tc.ref())
		if kube.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("InferenceService %s still exists after destroy (err %v)", tc.name, err)
	}
}

// errorPattern matches a diagnostic as Terraform prints it, wrapped at any space.
func errorPattern(pattern string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)` + strings.ReplaceAll(pattern, " ", `\s+`))
}

func expectedError(pattern string) *regexp.Regexp {
	if pattern == "" {
		return nil
	}
	return errorPattern(pattern)
}

func expectState(attribute string, value knownvalue.Check) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(isvcAddr, tfjsonpath.New(attribute), value)
}

func expectPlanned(attribute string, value knownvalue.Check) plancheck.PlanCheck {
	return plancheck.ExpectKnownValue(isvcAddr, tfjsonpath.New(attribute), value)
}

func expectUnknown(attribute string) plancheck.PlanCheck {
	return plancheck.ExpectUnknownValue(isvcAddr, tfjsonpath.New(attribute))
}

func TestAccInferenceService_basic(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	url := fmt.Sprintf("grpc://modelmesh-serving.%s:8033", tc.namespace)
	runtime := fmt.Sprintf("  runtime = %q\n", tc.runtime)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config: tc.config("sklearn/mnist-svm.joblib", runtime+`  labels = { team = "a" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					// Waiting promises these; the rest is only known once ModelMesh reports it.
					expectPlanned("ready", knownvalue.Bool(true)),
					expectPlanned("active_model_state", knownvalue.StringExact("Loaded")),
					expectUnknown("url"),
					expectUnknown("total_copies"),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("id", knownvalue.StringExact(tc.namespace+"/"+tc.name)),
					expectState("ready", knownvalue.Bool(true)),
					expectState("url", knownvalue.StringExact(url)),
					expectState("grpc_url", knownvalue.StringExact(url)),
					expectState("rest_url", knownvalue.StringExact(fmt.Sprintf("http://modelmesh-serving.%s:8008", tc.namespace))),
					expectState("active_model_state", knownvalue.StringExact("Loaded")),
					expectState("transition_status", knownvalue.StringExact("UpToDate")),
					expectState("total_copies", knownvalue.Int64Exact(1)),
					expectState("failed_copies", knownvalue.Int64Exact(0)),
					expectState("last_failure_reason", knownvalue.Null()),
					expectState("annotations", knownvalue.Null()),
					expectState("wait_for_ready", knownvalue.Bool(true)),
				},
				Check: tc.checkLive(t, func(obj *unstructured.Unstructured) error {
					if mode := obj.GetAnnotations()[deploymentModeAnnotation]; mode != deploymentModeModelMesh {
						return fmt.Errorf("deploymentMode annotation is %q", mode)
					}
					return loadedWithPath("sklearn/mnist-svm.joblib")(obj)
				}),
			},
			{
				// Labels do not touch the model: the status is planned as it is, not "known after apply".
				Config: tc.config("sklearn/mnist-svm.joblib", runtime+`  labels = { team = "b" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
					expectPlanned("total_copies", knownvalue.Int64Exact(1)),
					expectPlanned("url", knownvalue.StringExact(url)),
					expectPlanned("target_model_state", knownvalue.StringExact("")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{expectState("labels", knownvalue.MapExact(map[string]knownvalue.Check{"team": knownvalue.StringExact("b")}))},
			},
			{
				// A new model path is an in-place update that waits for the new model.
				Config: tc.config("sklearn/v2/model.joblib", runtime+`  labels = { team = "b" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
					expectPlanned("ready", knownvalue.Bool(true)),
					expectPlanned("url", knownvalue.StringExact(url)),
					expectUnknown("target_model_state"),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("ready", knownvalue.Bool(true)),
					expectState("storage", knownvalue.ObjectPartial(map[string]knownvalue.Check{"path": knownvalue.StringExact("sklearn/v2/model.joblib")})),
				},
				Check: tc.checkLive(t, loadedWithPath("sklearn/v2/model.joblib")),
			},
			{
				ResourceName:      isvcAddr,
				ImportState:       true,
				ImportStateId:     tc.namespace + "/" + tc.name,
				ImportStateVerify: true,
			},
			{
				// Status written by the controller and labels added by other tools are not drift.
				PreConfig: func() {
					isvcs := acctest.Dynamic(t).Resource(kube.InferenceService.GVR).Namespace(tc.namespace)
					for patch, subresource := range map[string][]string{
						`{"status":{"modelStatus":{"copies":{"totalCopies":3}}}}`: {"status"},
						`{"metadata":{"labels":{"added-by":"someone-else"}}}`:     nil,
					} {
						if _, err := isvcs.Patch(context.Background(), tc.name, k8stypes.MergePatchType, []byte(patch),
							metav1.PatchOptions{FieldManager: "someone-else"}, subresource...); err != nil {
							t.Fatal(err)
						}
					}
				},
				Config:   tc.config("sklearn/v2/model.joblib", runtime+`  labels = { team = "b" }`),
				PlanOnly: true,
			},
		},
	})
}

func TestAccInferenceService_loadFailureTaintsAndRecovers(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	runtime := fmt.Sprintf("  runtime = %q\n", tc.runtime)
	var started time.Time
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				PreConfig: func() { started = time.Now() },
				Config:    tc.config("fail/model.joblib", runtime),
				ExpectError: errorPattern(`failed to load its model.*ModelLoadFailed: Failed to load Model due to adapter error: Error calling stat ` +
					`on /models/` + tc.name + `__isvc-\S+/model.joblib: .*no such file or directory.*storage key "localMinIO", path "fail/model.joblib".*tainted`),
			},
			{
				PreConfig: func() {
					// Failing fast, not at the 10m timeout; and the object was kept, not orphaned.
					if elapsed := time.Since(started); elapsed > time.Minute {
						t.Fatalf("the failed apply took %s", elapsed)
					}
					tc.live(t)
				},
				Config: tc.config("sklearn/mnist-svm.joblib", runtime),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					// Only a tainted object is replaced for a path change.
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true))},
			},
			{
				// A failed update is kept too, with ModelMesh's words; the old model keeps serving.
				Config: tc.config("fail/v2.joblib", runtime),
				ExpectError: errorPattern(`failed to load its model.*targetModelState="FailedToLoad".*` +
					`ModelLoadFailed: Failed to load Model due to adapter error: Error calling stat on /models/\S+/v2.joblib`),
			},
			{
				Config:             tc.config("fail/v2.joblib", runtime),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config:            tc.config("sklearn/v3.joblib", runtime),
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true)), expectState("last_failure_reason", knownvalue.Null())},
				Check:             tc.checkLive(t, loadedWithPath("sklearn/v3.joblib")),
			},
		},
	})
}

func TestAccInferenceService_noSupportingRuntime(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	// Only a running model-mesh can say that nothing fits: runtimes scale to zero while no model
	// uses them (ScaleToZero), and without a runtime Pod the controller reports RuntimeUnhealthy,
	// waiting for one. A model loaded on the namespace's runtime keeps model-mesh running.
	warm := tc.block("warm", tc.name+"-warm", "sklearn/warm.joblib", fmt.Sprintf("  runtime = %q\n", tc.runtime))
	afterWarm := "  depends_on = [asm_inference_service.warm]\n"
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// Without runtime only auto-select formats match, and no runtime has "my-model".
				Config: acctest.ProviderConfig() + warm + fmt.Sprintf(`
resource "asm_inference_service" "test" {
  name      = %q
  namespace = %q
  model_format { name = "my-model" }
  storage {
    key  = "localMinIO"
    path = "my-model/v1"
  }
%s}
`, tc.name, tc.namespace, afterWarm),
				ExpectError: errorPattern(`NoSupportingRuntime.*No runtime is set.*model format "my-model" with auto_select = true`),
			},
			{
				Config: tc.config("sklearn/mnist-svm.joblib", `  runtime = "missing-runtime"`+"\n"+afterWarm) + warm,
				ExpectError: errorPattern(`RuntimeNotRecognized.*runtime "missing-runtime" exists as a ServingRuntime in namespace "` +
					tc.namespace + `".*supported_model_formats`),
			},
		},
	})
}

func TestAccInferenceService_waitTimeoutTaintsAndRecovers(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	runtime := fmt.Sprintf("  runtime = %q\n", tc.runtime)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config:      tc.config("slow/model.joblib", runtime+`  timeouts { create = "3s" }`),
				ExpectError: errorPattern(`Timed out waiting.*within 3s \(timeouts.create\).*activeModelState="(Pending|Loading)".*tainted`),
			},
			{
				Config: tc.config("sklearn/mnist-svm.joblib", runtime),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true))},
			},
			{
				Config:      tc.config("slow/v2.joblib", runtime+`  timeouts { update = "3s" }`),
				ExpectError: errorPattern(`Timed out waiting.*within 3s \(timeouts.update\).*targetModelState="Loading".*next apply waits again`),
			},
			{
				// The update is in state, but its wait did not finish: the next plan waits again.
				Config:             tc.config("slow/v2.joblib", runtime+`  timeouts { update = "3s" }`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
					expectPlanned("ready", knownvalue.Bool(true)),
				}},
			},
			{
				// A model that loads replaces the one still loading; this apply waits for it.
				Config:            tc.config("sklearn/v2.joblib", runtime),
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true))},
				Check:             tc.checkLive(t, loadedWithPath("sklearn/v2.joblib")),
			},
		},
	})
}

func TestAccInferenceService_outOfBandChanges(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	runtime := fmt.Sprintf("  runtime = %q\n", tc.runtime)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{Config: tc.config("sklearn/mnist-svm.joblib", runtime)},
			{
				// kubectl edit of a field Terraform manages: drift, and taking it back needs force_conflicts.
				PreConfig: func() {
					obj := tc.live(t)
					_ = unstructured.SetNestedField(obj.Object, "sklearn/edited.joblib", "spec", "predictor", "model", "storage", "path")
					if _, err := acctest.Dynamic(t).Resource(kube.InferenceService.GVR).Namespace(tc.namespace).
						Update(context.Background(), obj, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
						t.Fatal(err)
					}
				},
				Config:             tc.config("sklearn/mnist-svm.joblib", runtime),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
				}},
			},
			{
				Config:      tc.config("sklearn/mnist-svm.joblib", runtime),
				ExpectError: errorPattern(`conflict with another field manager.*kubectl-edit.*force_conflicts = true`),
			},
			{
				Config: tc.config("sklearn/mnist-svm.joblib", runtime+"  force_conflicts = true\n"),
				Check:  tc.checkLive(t, loadedWithPath("sklearn/mnist-svm.joblib")),
			},
			{
				// Deleted out of band: planned for creation again, not an error.
				PreConfig: func() {
					background := metav1.DeletePropagationBackground
					isvcs := acctest.Dynamic(t).Resource(kube.InferenceService.GVR).Namespace(tc.namespace)
					if err := isvcs.Delete(context.Background(), tc.name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
						t.Fatal(err)
					}
				},
				Config: tc.config("sklearn/mnist-svm.joblib", runtime+"  force_conflicts = true\n"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{expectState("ready", knownvalue.Bool(true))},
			},
		},
	})
}

func TestAccInferenceService_existingObjectIsNotAdopted(t *testing.T) {
	tc := newISVCTest(t)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig: func() {
				obj := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": kube.InferenceService.APIVersion(), "kind": kube.InferenceService.Kind,
					"metadata": map[string]any{"name": tc.name, "namespace": tc.namespace,
						"annotations": map[string]any{deploymentModeAnnotation: deploymentModeModelMesh}},
					"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{"storageUri": "s3://b/m"}}},
				}}
				if _, err := acctest.Dynamic(t).Resource(kube.InferenceService.GVR).Namespace(tc.namespace).
					Create(context.Background(), obj, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
					t.Fatal(err)
				}
			},
			Config:      tc.config("sklearn/mnist-svm.joblib", fmt.Sprintf("  runtime = %q\n", tc.runtime)),
			ExpectError: errorPattern(`already exists.*terraform import asm_inference_service.<name> ` + tc.namespace + "/" + tc.name),
		}},
	})
}

func TestAccInferenceService_meshVersionCheckedAtPlan(t *testing.T) {
	if acctest.OldMeshID() == "" {
		t.Skip("no mesh older than 1.18.0.134 to test against (set ASM_ACC_OLD_MESH_ID)")
	}
	tc := newISVCTest(t)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      tc.config("sklearn/mnist-svm.joblib", fmt.Sprintf("  runtime = %q\n  mesh_id = %q\n", tc.runtime, acctest.OldMeshID())),
				PlanOnly:    true,
				ExpectError: errorPattern(`Mesh version too old.*older than the required 1\.18\.0\.134`),
			},
			{
				Config:             tc.config("sklearn/mnist-svm.joblib", fmt.Sprintf("  runtime = %q\n  mesh_id = %q\n", tc.runtime, acctest.MeshID())),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

// TestInferenceService_validation needs no cluster: every problem is found before any call, and a
// plan that only creates never calls the cluster.
func TestInferenceService_validation(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"storage_uri alone": {
			body: `model_format { name = "sklearn" }
  storage_uri = "s3://bucket/a"`,
		},
		"storage without path": {
			body: `model_format { name = "sklearn" }
  storage { key = "localMinIO" }`,
			want: `Missing Attribute Configuration.*Exactly one of these attributes must be configured: \[storage.path,storage_uri\]`,
		},
		"storage and storage_uri": {
			body: `model_format { name = "sklearn" }
  storage { path = "a" }
  storage_uri = "s3://bucket/a"`,
			want: `Invalid Attribute Combination.*Exactly one of these attributes must be configured: \[storage.path,storage_uri\]`,
		},
		"neither storage nor storage_uri": {
			body: `model_format { name = "sklearn" }`,
			want: `Missing Attribute Configuration.*Exactly one of these attributes must be configured: \[storage.path,storage_uri\]`,
		},
		"model_format missing": {
			body: `storage_uri = "s3://bucket/a"`,
			want: `model_format`,
		},
		"namespace not a DNS label": {
			body: `namespace = "Bad NS"
  model_format { name = "sklearn" }
  storage_uri = "s3://bucket/a"`,
			want: `Attribute namespace must be a lowercase RFC 1123 label`,
		},
		"deploymentMode annotation": {
			body: `model_format { name = "sklearn" }
  storage_uri = "s3://bucket/a"
  annotations = { "serving.kserve.io/deploymentMode" = "Serverless" }`,
			want: `annotations.*serving.kserve.io/deploymentMode`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfigUnreachableKube() +
						"resource \"asm_inference_service\" \"test\" {\n  name = \"m\"\n  " + tc.body + "\n}\n",
					PlanOnly:           true,
					ExpectNonEmptyPlan: tc.want == "",
					ExpectError:        expectedError(tc.want),
				}},
			})
		})
	}
}

// status builds an InferenceService as ModelMesh leaves it.
func isvcWithStatus(generation int64, resourceVersion string, status map[string]any) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	obj.SetGeneration(generation)
	obj.SetResourceVersion(resourceVersion)
	return obj
}

func modelMeshStatus(ready bool, active, target, transition string, failure map[string]any) map[string]any {
	readyStatus := "False"
	if ready {
		readyStatus = "True"
	}
	modelStatus := map[string]any{
		"transitionStatus": transition,
		"states":           map[string]any{"activeModelState": active, "targetModelState": target},
	}
	if failure != nil {
		modelStatus["lastFailureInfo"] = failure
	}
	return map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": readyStatus}}, "modelStatus": modelStatus}
}

func TestLoadWaiter(t *testing.T) {
	loaded := modelMeshStatus(true, "Loaded", "", "UpToDate", nil)
	withObserved := func(s map[string]any, g int64) map[string]any {
		out := map[string]any{"observedGeneration": g}
		for k, v := range s {
			out[k] = v
		}
		return out
	}
	cases := map[string]struct {
		waiter  loadWaiter
		obj     *unstructured.Unstructured
		done    bool
		failure string
	}{
		"stale Loaded in the apply's response": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj:    isvcWithStatus(2, "10", loaded),
		},
		"Loaded written after the apply": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj:    isvcWithStatus(2, "12", loaded), done: true,
		},
		"unchanged spec: the status is current": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10"},
			obj:    isvcWithStatus(2, "10", loaded), done: true,
		},
		"observedGeneration behind": {
			waiter: loadWaiter{generation: 3, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj:    isvcWithStatus(3, "11", withObserved(loaded, 2)),
		},
		"observedGeneration current": {
			waiter: loadWaiter{generation: 3, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj:    isvcWithStatus(3, "10", withObserved(loaded, 3)), done: true,
		},
		"old model serving while the new one loads": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj:    isvcWithStatus(2, "11", modelMeshStatus(true, "Loaded", "Loading", "InProgress", nil)),
		},
		"new model failed": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj: isvcWithStatus(2, "11", modelMeshStatus(true, "Loaded", "FailedToLoad", "BlockedByFailedLoad",
				map[string]any{"reason": "ModelLoadFailed", "message": "boom"})),
			failure: "ModelLoadFailed",
		},
		// The statuses below are those the ModelMesh controller writes (see internal/testcluster's
		// status tests): a first model is active and target at once, so its transitionStatus is
		// UpToDate even when it failed to load.
		"stale failure of the previous spec": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10", specChanged: true, loadStarted: true},
			obj: isvcWithStatus(2, "10", modelMeshStatus(false, "FailedToLoad", "", "UpToDate",
				map[string]any{"reason": "ModelLoadFailed", "message": "old"})),
		},
		"no runtime": {
			waiter: loadWaiter{generation: 1, resourceVersion: "5", specChanged: true, loadStarted: true},
			obj: isvcWithStatus(1, "6", modelMeshStatus(false, "FailedToLoad", "", "UpToDate",
				map[string]any{"reason": "NoSupportingRuntime", "message": "none"})),
			failure: "NoSupportingRuntime",
		},
		"runtime not recognized": {
			waiter: loadWaiter{generation: 1, resourceVersion: "5", specChanged: true, loadStarted: true},
			obj: isvcWithStatus(1, "6", modelMeshStatus(false, "FailedToLoad", "", "UpToDate",
				map[string]any{"reason": "RuntimeNotRecognized", "message": "none"})),
			failure: "RuntimeNotRecognized",
		},
		// ModelMesh leaves a model it unloaded in Standby until it is used (TestStandby in
		// internal/testcluster): a wait that started no load takes it, Ready or not.
		"Standby, a wait that started no load": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10"},
			obj:    isvcWithStatus(2, "10", modelMeshStatus(true, "Standby", "", "UpToDate", nil)), done: true,
		},
		"Standby with the kept runtime failure, a wait that started no load": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10"},
			obj: isvcWithStatus(2, "10", modelMeshStatus(false, "Standby", "", "UpToDate",
				map[string]any{"reason": "RuntimeUnhealthy", "message": "Waiting for runtime Pod to become available"})),
			done: true,
		},
		"Standby while this apply loads": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10", loadStarted: true},
			obj:    isvcWithStatus(2, "10", modelMeshStatus(true, "Standby", "", "UpToDate", nil)),
		},
		"Loading counts as available, but is not Loaded": {
			waiter: loadWaiter{generation: 2, resourceVersion: "10"},
			obj:    isvcWithStatus(2, "10", modelMeshStatus(true, "Loading", "", "UpToDate", nil)),
		},
		"invalid spec": {
			waiter: loadWaiter{generation: 1, resourceVersion: "5", specChanged: true, loadStarted: true},
			obj: isvcWithStatus(1, "6", modelMeshStatus(false, "Pending", "", "InvalidSpec",
				map[string]any{"reason": "InvalidPredictorSpec", "message": "bad"})),
			failure: "InvalidPredictorSpec",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			done, err := c.waiter.done(c.obj)
			var failed *loadFailedError
			switch {
			case c.failure != "":
				if !errors.As(err, &failed) || failed.status.LastFailureReason.ValueString() != c.failure {
					t.Fatalf("want failure %s, got done=%t err=%v", c.failure, done, err)
				}
			case err != nil || done != c.done:
				t.Fatalf("want done=%t, got done=%t err=%v", c.done, done, err)
			}
		})
	}
	if _, err := (loadWaiter{}).done(nil); !errors.Is(err, errDeletedWhileWaiting) {
		t.Errorf("a deleted object must end the wait, got %v", err)
	}
}

func TestPlannedStatus(t *testing.T) {
	state := &inferenceServiceModel{
		Runtime: types.StringValue("rt"), StorageURI: types.StringValue("s3://b/m1"), ServiceAccountName: types.StringNull(),
		WaitForReady: types.BoolValue(true),
		inferenceServiceStatus: inferenceServiceStatus{
			Ready: types.BoolValue(true), URL: types.StringValue("grpc://x"), GRPCURL: types.StringNull(),
			TotalCopies: types.Int64Value(1),
		},
	}
	unchanged := *state
	if s := plannedStatus(&unchanged, state, false); !s.TotalCopies.Equal(types.Int64Value(1)) || !s.URL.Equal(state.URL) {
		t.Errorf("no model change: the status must be planned as in state, got %+v", s)
	}
	if s := plannedStatus(&unchanged, state, true); !s.TotalCopies.IsUnknown() || !s.Ready.Equal(types.BoolValue(true)) {
		t.Errorf("a pending wait must be planned again, got %+v", s)
	}
	changed := *state
	changed.StorageURI = types.StringValue("s3://b/m2")
	s := plannedStatus(&changed, state, false)
	if !s.Ready.Equal(types.BoolValue(true)) || !s.URL.Equal(state.URL) || !s.GRPCURL.IsUnknown() || !s.TotalCopies.IsUnknown() {
		t.Errorf("model change with wait: ready planned true, known URLs kept, the rest unknown; got %+v", s)
	}
	changed.WaitForReady = types.BoolValue(false)
	if s := plannedStatus(&changed, state, false); !s.Ready.IsUnknown() {
		t.Errorf("model change without wait: ready must be unknown, got %+v", s)
	}
	// Turning the wait on loads nothing: the model may be in Standby, not Ready (loadWaiter).
	notWaited := *state
	notWaited.WaitForReady = types.BoolValue(false)
	s = plannedStatus(state, &notWaited, false)
	if !s.Ready.IsUnknown() || !s.ActiveModelState.IsUnknown() || !s.TransitionStatus.Equal(types.StringValue(transitionUpToDate)) {
		t.Errorf("wait turned on: ready and active_model_state unknown, transition_status UpToDate; got %+v", s)
	}
}

// seedConfig is the ModelMesh custom-runtime walkthrough: a custom MLServer runtime for format
// my-model, a storage key, and an InferenceService using both.
func seedConfig(providerConfig, namespace string) string {
	return providerConfig + fmt.Sprintf(`
resource "asm_serving_runtime" "my_model_server" {
  name      = "my-model-server-0.x"
  namespace = %[1]q
  supported_model_formats = [{ name = "my-model", version = "1", auto_select = true }]
  mlserver = {
    image          = "registry.example.com/my-model-server:0.x"
    implementation = "custom_model.CustomMLModel"
  }
}

resource "asm_model_storage" "local_minio" {
  name      = "localMinIO"
  namespace = %[1]q
  type      = "s3"
  s3 {
    access_key_id     = "AKIAIOSFODNN7EXAMPLE"
    secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    endpoint_url      = "http://minio.modelmesh-serving:9000"
    bucket            = "modelmesh-example-models"
    region            = "us-south"
  }
}

resource "asm_inference_service" "test" {
  name      = "my-model-sample"
  namespace = %[1]q
  runtime   = asm_serving_runtime.my_model_server.name
  model_format {
    name    = "my-model"
    version = "1"
  }
  storage {
    key  = asm_model_storage.local_minio.name
    path = "my-model/model.json"
  }
}
`, namespace)
}

func TestAccInferenceService_seedScenario(t *testing.T) {
	requireLocalModelMesh(t)
	namespace := acctest.CreateNamespace(t, "seed")
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             isvcTest{namespace: namespace, name: "my-model-sample"}.checkGone(t),
		Steps: []resource.TestStep{
			{
				// A plan that only creates never needs the cluster.
				Config:             seedConfig(acctest.ProviderConfigUnreachableKube(), namespace),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: seedConfig(acctest.ProviderConfig(), namespace),
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("ready", knownvalue.Bool(true)),
					expectState("url", knownvalue.StringExact(fmt.Sprintf("grpc://modelmesh-serving.%s:8033", namespace))),
					expectState("runtime", knownvalue.StringExact("my-model-server-0.x")),
				},
			},
		},
	})
}

// TestAccInferenceService_interruptKeepsState cancels an apply the way Terraform's Ctrl-C does
// (the provider server's context ends) while the model is still loading: Create must return at once
// with the object in its new state, so that Terraform records and taints it instead of orphaning it.
func TestAccInferenceService_interruptKeepsState(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	ctx := context.Background()
	server, err := acctest.ProtoV6ProviderFactories["asm"]()
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := server.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := regexp.MustCompile(`config_path = "([^"]+)"`).FindStringSubmatch(acctest.ProviderConfig())
	if kubeconfig == nil {
		t.Skip("the provider configuration of this environment names no kubeconfig")
	}
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	providerType := objectType(t, schemas.Provider.ValueType())
	providerConfig := dynamicValue(t, providerType, map[string]tftypes.Value{
		"kubernetes": objectValue(objectType(t, providerType.AttributeTypes["kubernetes"]), map[string]tftypes.Value{"config_path": str(kubeconfig[1])}),
	})
	if resp, err := server.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: &providerConfig}); err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("configure: %v %v", err, resp)
	}

	isvcType := objectType(t, schemas.ResourceSchemas["asm_inference_service"].ValueType())
	config := dynamicValue(t, isvcType, map[string]tftypes.Value{
		"name": str(tc.name), "namespace": str(tc.namespace), "runtime": str(tc.runtime),
		"model_format": objectValue(objectType(t, isvcType.AttributeTypes["model_format"]), map[string]tftypes.Value{"name": str("sklearn")}),
		"storage":      objectValue(objectType(t, isvcType.AttributeTypes["storage"]), map[string]tftypes.Value{"path": str("slow/model.joblib")}),
	})
	nullState, err := tfprotov6.NewDynamicValue(isvcType, tftypes.NewValue(isvcType, nil))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := server.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName: "asm_inference_service", PriorState: &nullState, ProposedNewState: &config, Config: &config,
	})
	if err != nil || len(plan.Diagnostics) > 0 {
		t.Fatalf("plan: %v %v", err, plan)
	}

	applyCtx, interrupt := context.WithCancel(ctx)
	time.AfterFunc(2*time.Second, interrupt)
	started := time.Now()
	resp, err := server.ApplyResourceChange(applyCtx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName: "asm_inference_service", PriorState: &nullState, PlannedState: plan.PlannedState, Config: &config,
		PlannedPrivate: plan.PlannedPrivate,
	})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(started); elapsed > 10*time.Second {
		t.Errorf("the interrupted apply took %s", elapsed)
	}
	var messages []string
	for _, d := range resp.Diagnostics {
		messages = append(messages, d.Summary+": "+d.Detail)
	}
	if len(messages) != 1 || !strings.Contains(messages[0], "Interrupted while waiting") {
		t.Errorf("want one interruption error, got %q", messages)
	}
	newState, err := resp.NewState.Unmarshal(isvcType)
	if err != nil {
		t.Fatal(err)
	}
	var attributes map[string]tftypes.Value
	if err := newState.As(&attributes); err != nil || !attributes["id"].Equal(str(tc.namespace+"/"+tc.name)) {
		t.Errorf("the new state must hold the object, got %v (err %v)", newState, err)
	}
	tc.live(t) // and the object exists, to be deleted by the apply that replaces it
	if err := acctest.Kube(t).Delete(ctx, tc.ref()); err != nil {
		t.Error(err)
	}
}

func objectType(t *testing.T, typ tftypes.Type) tftypes.Object {
	t.Helper()
	object, ok := typ.(tftypes.Object)
	if !ok {
		t.Fatalf("%s is not an object type", typ)
	}
	return object
}

// objectValue is an object of typ with the given attributes and every other attribute null.
func objectValue(typ tftypes.Object, set map[string]tftypes.Value) tftypes.Value {
	values := map[string]tftypes.Value{}
	for name, attributeType := range typ.AttributeTypes {
		values[name] = tftypes.NewValue(attributeType, nil)
		if v, ok := set[name]; ok {
			values[name] = v
		}
	}
	return tftypes.NewValue(typ, values)
}

func dynamicValue(t *testing.T, typ tftypes.Object, set map[string]tftypes.Value) tfprotov6.DynamicValue {
	t.Helper()
	v, err := tfprotov6.NewDynamicValue(typ, objectValue(typ, set))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLoadFailureHintForATimeout: a load model-mesh timed out is blamed on the runtime's loading
// timeout, not on storage or on the resource's own timeouts.
func TestLoadFailureHintForATimeout(t *testing.T) {
	m := &inferenceServiceModel{
		Name: types.StringValue("m"), Namespace: types.StringValue("ns"), Runtime: types.StringValue("rt"),
		ModelFormat: types.ObjectNull(nil), Storage: types.ObjectNull(nil), StorageURI: types.StringValue("s3://bucket/m"),
	}
	status := func(message string) inferenceServiceStatus {
		return inferenceServiceStatus{LastFailureReason: types.StringValue("ModelLoadFailed"), LastFailureMessage: types.StringValue(message)}
	}
	hint := loadFailureHint(m, status("java.util.concurrent.TimeoutException: Load of model m__isvc-0123456789 timed out after 90sec"))
	for _, want := range []string{`runtime "rt"`, "model_loading_timeout_millis", "not this resource's timeouts"} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint for a timed-out load lacks %q: %s", want, hint)
		}
	}
	if hint := loadFailureHint(m, status("Failed to load Model due to adapter error: Error calling stat on /models/m__isvc-1/m: stat /models/m__isvc-1/m: no such file or directory")); strings.Contains(hint, "model_loading_timeout_millis") {
		t.Errorf("hint for a storage failure names the loading timeout: %s", hint)
	}
}

// TestLoadFailureHintForAMissingStorageKey: the puller's missing key is named with the Secret,
// its namespace and the resource that creates it.
func TestLoadFailureHintForAMissingStorageKey(t *testing.T) {
	m := &inferenceServiceModel{
		Name: types.StringValue("m"), Namespace: types.StringValue("ns"), Runtime: types.StringNull(),
		ModelFormat: types.ObjectNull(nil), Storage: types.ObjectNull(nil), StorageURI: types.StringValue("s3://bucket/m"),
	}
	hint := loadFailureHint(m, inferenceServiceStatus{LastFailureReason: types.StringValue("ModelLoadFailed"),
		LastFailureMessage: types.StringValue("Did not find storage config for key myMinIO: Storage secretKey not found: myMinIO")})
	for _, want := range []string{`storage key "myMinIO"`, `Secret storage-config of namespace "ns"`, `asm_model_storage (name = "myMinIO", namespace = "ns")`} {
		if !strings.Contains(hint, want) {
			t.Errorf("hint for a missing storage key lacks %q: %s", want, hint)
		}
	}
}

// TestLookAtRetries: a failed load is waited out while ModelMesh may retry it, for retryGrace at
// most; not after maxLoadFailures; during an update, counting only the new model's failures. The
// looks are cancelled before they reach a cluster, so the Pods are unknown and only the limit and
// the grace decide.
func TestLookAtRetries(t *testing.T) {
	client, err := kube.New(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	m := &inferenceServiceModel{Name: types.StringValue("m"), Namespace: types.StringValue("ns"), Runtime: types.StringValue("rt")}
	failedStatus := func(failed int64, target string) inferenceServiceStatus {
		return inferenceServiceStatus{LastFailureReason: types.StringValue("ModelLoadFailed"), LastFailureMessage: types.StringValue("boom"),
			FailedCopies: types.Int64Value(failed), TargetModelState: types.StringValue(target)}
	}
	verdict := func(i *runtimeInspector, s inferenceServiceStatus) string {
		t.Helper()
		err := i.lookAtRetries(cancelled, s, map[string]bool{})
		var failed *loadFailedError
		if err != nil && !errors.As(err, &failed) {
			t.Fatalf("unexpected error %v", err)
		}
		if failed == nil {
			return ""
		}
		return failed.retries
	}

	i := newRuntimeInspector(client, m, inferenceServiceStatus{})
	if got := verdict(i, failedStatus(1, "")); got != "" {
		t.Errorf("first failure: %q, want the wait to go on", got)
	}
	i.firstSeen["retry/1"] = time.Now().Add(-retryGrace)
	if got := verdict(i, failedStatus(1, "")); !strings.Contains(got, "started no retry within 30s") {
		t.Errorf("no retry within retryGrace: %q", got)
	}
	if got := verdict(newRuntimeInspector(client, m, inferenceServiceStatus{}), failedStatus(3, "")); !strings.Contains(got, "after 3 recent failures") {
		t.Errorf("three failures: %q", got)
	}
	// During an update the controller adds the serving model's two failures: the new one has one.
	serving := inferenceServiceStatus{FailedCopies: types.Int64Value(2)}
	if got := verdict(newRuntimeInspector(client, m, serving), failedStatus(3, modelStateFailedToLoad)); got != "" {
		t.Errorf("one failure of the new model beside two of the serving one: %q, want the wait to go on", got)
	}
}
