package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

// TestAccInferenceServicesDataSource lists the models two teams created in a namespace, as the
// ModelMesh controller reports them, sorted by name; by label selector; an empty list when none
// matches; and through ack_cluster_id.
func TestAccInferenceServicesDataSource(t *testing.T) {
	requireLocalModelMesh(t)
	tc := newISVCTest(t)
	loaded, failing := acctest.RandomName("a"), acctest.RandomName("b")
	createInferenceService(t, tc.namespace, failing, "fraud", acctest.FailPathMarker+"model.joblib", func(s inferenceServiceStatus) bool {
		return s.LastFailureReason.ValueString() != ""
	})
	createInferenceService(t, tc.namespace, loaded, "vision", "sklearn/mnist-svm.joblib", func(s inferenceServiceStatus) bool {
		return s.ActiveModelState.ValueString() == "Loaded" && s.TransitionStatus.ValueString() == "UpToDate"
	})
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)

	loadedItem := knownvalue.ObjectPartial(map[string]knownvalue.Check{
		"id": knownvalue.StringExact(tc.namespace + "/" + loaded), "name": knownvalue.StringExact(loaded),
		"namespace": knownvalue.StringExact(tc.namespace),
		"labels":    knownvalue.MapExact(map[string]knownvalue.Check{"team": knownvalue.StringExact("vision")}),
		"ready":     knownvalue.Bool(true), "active_model_state": knownvalue.StringExact("Loaded"),
		"url": knownvalue.StringRegexp(regexp.MustCompile(`^grpc://`)),
		"storage": knownvalue.ObjectPartial(map[string]knownvalue.Check{
			"path": knownvalue.StringExact("sklearn/mnist-svm.joblib"), "key": knownvalue.StringExact("localMinIO")}),
	})
	failedItem := knownvalue.ObjectPartial(map[string]knownvalue.Check{
		"name": knownvalue.StringExact(failing), "ready": knownvalue.Bool(false),
		"active_model_state":  knownvalue.StringExact("FailedToLoad"),
		"last_failure_reason": knownvalue.StringExact("ModelLoadFailed"),
	})
	all := dataBlock("asm_inference_services", "all", map[string]string{"namespace": tc.namespace})
	allChecks := []statecheck.StateCheck{
		statecheck.ExpectKnownValue("data.asm_inference_services.all", tfjsonpath.New("items"),
			knownvalue.ListExact([]knownvalue.Check{loadedItem, failedItem})),
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: acctest.ProviderConfig() + all +
					dataBlock("asm_inference_services", "vision", map[string]string{"namespace": tc.namespace, "label_selector": "team=vision"}) +
					dataBlock("asm_inference_services", "none", map[string]string{"namespace": tc.namespace, "label_selector": "team notin (vision,fraud)"}),
				ConfigStateChecks: append(allChecks,
					statecheck.ExpectKnownValue("data.asm_inference_services.vision", tfjsonpath.New("items"),
						knownvalue.ListExact([]knownvalue.Check{loadedItem})),
					statecheck.ExpectKnownValue("data.asm_inference_services.none", tfjsonpath.New("items"), knownvalue.ListExact([]knownvalue.Check{})),
				),
			},
			{
				Config:            acctest.ProviderConfigACK(ack, clusterID, "") + all,
				ConfigStateChecks: allChecks,
			},
		},
	})
}
