package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// createInferenceService writes a model of the team out of band, as that team would, and waits
// until the ModelMesh controller has reported on it as settled says.
func createInferenceService(t *testing.T, namespace, name, team, path string, settled func(inferenceServiceStatus) bool) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.InferenceService.APIVersion(), "kind": kube.InferenceService.Kind,
		"metadata": map[string]any{"name": name, "namespace": namespace, "labels": map[string]any{"team": team},
			"annotations": map[string]any{deploymentModeAnnotation: deploymentModeModelMesh}},
		"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{
			"modelFormat": map[string]any{"name": "sklearn", "version": "0"},
			"storage":     map[string]any{"key": "localMinIO", "path": path},
		}}},
	}}
	isvcs := acctest.Dynamic(t).Resource(kube.InferenceService.GVR).Namespace(namespace)
	if _, err := isvcs.Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last inferenceServiceStatus
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		live, err := isvcs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = statusOf(live)
		return settled(last), nil
	})
	if err != nil {
		t.Fatalf("InferenceService %s/%s: %v; last status %+v", namespace, name, err, last)
	}
}

func inferenceServiceData(label, namespace, name string) string {
	return fmt.Sprintf("\ndata \"asm_inference_service\" %q {\n  name      = %q\n  namespace = %q\n}\n", label, name, namespace)
}

// TestAccInferenceServiceDataSource reads models another team created, as the ModelMesh controller
// reports them: one loaded, one whose load failed; and a missing one, which is an error naming it.
func TestAccInferenceServiceDataSource(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	failing := acctest.RandomName("failing")
	createInferenceService(t, tc.namespace, tc.name, "vision", "sklearn/mnist-svm.joblib", func(s inferenceServiceStatus) bool {
		return s.ActiveModelState.ValueString() == "Loaded" && s.TransitionStatus.ValueString() == "UpToDate"
	})
	createInferenceService(t, tc.namespace, failing, "vision", acctest.FailPathMarker+"model.joblib", func(s inferenceServiceStatus) bool {
		return s.LastFailureReason.ValueString() != ""
	})
	const loaded, failed = "data.asm_inference_service.loaded", "data.asm_inference_service.failed"
	expect := func(addr string, at tfjsonpath.Path, v knownvalue.Check) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(addr, at, v)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + inferenceServiceData("loaded", tc.namespace, tc.name) +
					inferenceServiceData("failed", tc.namespace, failing),
				ConfigStateChecks: []statecheck.StateCheck{
					expect(loaded, tfjsonpath.New("id"), knownvalue.StringExact(tc.namespace+"/"+tc.name)),
					expect(loaded, tfjsonpath.New("model_format"), knownvalue.ObjectExact(map[string]knownvalue.Check{
						"name": knownvalue.StringExact("sklearn"), "version": knownvalue.StringExact("0"),
					})),
					expect(loaded, tfjsonpath.New("storage").AtMapKey("path"), knownvalue.StringExact("sklearn/mnist-svm.joblib")),
					expect(loaded, tfjsonpath.New("storage").AtMapKey("key"), knownvalue.StringExact("localMinIO")),
					expect(loaded, tfjsonpath.New("labels"), knownvalue.MapExact(map[string]knownvalue.Check{"team": knownvalue.StringExact("vision")})),
					expect(loaded, tfjsonpath.New("runtime"), knownvalue.Null()),
					expect(loaded, tfjsonpath.New("ready"), knownvalue.Bool(true)),
					expect(loaded, tfjsonpath.New("active_model_state"), knownvalue.StringExact("Loaded")),
					expect(loaded, tfjsonpath.New("transition_status"), knownvalue.StringExact("UpToDate")),
					expect(loaded, tfjsonpath.New("total_copies"), knownvalue.Int64Func(func(n int64) error {
						if n < 1 {
							return fmt.Errorf("%d copies of a loaded model", n)
						}
						return nil
					})),
					expect(loaded, tfjsonpath.New("url"), knownvalue.StringRegexp(regexp.MustCompile(`^grpc://`))),
					expect(failed, tfjsonpath.New("ready"), knownvalue.Bool(false)),
					expect(failed, tfjsonpath.New("active_model_state"), knownvalue.StringExact("FailedToLoad")),
					expect(failed, tfjsonpath.New("last_failure_reason"), knownvalue.StringExact("ModelLoadFailed")),
					expect(failed, tfjsonpath.New("last_failure_message"), knownvalue.StringRegexp(regexp.MustCompile(`Error calling stat on /models/\S+: stat .*no such file or directory`))),
				},
			},
			{
				Config:      acctest.ProviderConfig() + inferenceServiceData("missing", tc.namespace, "no-such-model"),
				ExpectError: errorPattern(`InferenceService "no-such-model" in namespace "` + tc.namespace + `" not found.*Check the name and the namespace`),
			},
		},
	})
}

// TestAccInferenceServiceDataSource_ackCluster reads through ack_cluster_id, the provider knowing
// nothing of the cluster but its ID.
func TestAccInferenceServiceDataSource_ackCluster(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	createInferenceService(t, tc.namespace, tc.name, "vision", "sklearn/mnist-svm.joblib", func(s inferenceServiceStatus) bool {
		return s.ActiveModelState.ValueString() == "Loaded"
	})
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: acctest.ProviderConfigACK(ack, clusterID, "") + inferenceServiceData("test", tc.namespace, tc.name),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.asm_inference_service.test", tfjsonpath.New("active_model_state"), knownvalue.StringExact("Loaded")),
			},
		}},
	})
}
