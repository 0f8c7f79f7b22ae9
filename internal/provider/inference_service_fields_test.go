package provider

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
)

// Tests of the fields of asm_inference_service against what ModelMesh v0.12.0 does with them
// (pkg/predictor_source/inferenceservice_registry.go of github.com/kserve/modelmesh-serving).

// TestInferenceServiceFields_validation needs no cluster: what ModelMesh would refuse or ignore is
// refused at validate time.
func TestInferenceServiceFields_validation(t *testing.T) {
	const format = `model_format { name = "sklearn" }`
	for name, tc := range map[string]struct{ body, want string }{
		"s3 URI":    {body: `storage_uri = "s3://bucket/sklearn/model.joblib"`},
		"gs URI":    {body: `storage_uri = "gs://bucket/model"`},
		"pvc URI":   {body: `storage_uri = "pvc://claim/models/model.joblib"`},
		"http URL":  {body: `storage_uri = "http://models.example.com/model.joblib"`},
		"https URL": {body: `storage_uri = "https://models.example.com/model.joblib"`},
		"Azure Blob URL": {
			body: `storage_uri = "https://account.blob.core.windows.net/container/model.joblib"`,
		},
		// url.Parse lowercases the scheme before ModelMesh compares it.
		"upper-case scheme": {body: `storage_uri = "S3://bucket/model"`},
		"unsupported scheme": {
			body: `storage_uri = "ftp://host/model"`,
			want: `Attribute storage_uri must be a URI with a scheme ModelMesh supports: pvc, s3, gs, http, https \(scheme "ftp"\)`,
		},
		"KServe-only scheme": {
			body: `storage_uri = "oci://registry/model"`,
			want: `storage_uri must be a URI with a scheme ModelMesh supports.*\(scheme "oci"\)`,
		},
		"no scheme": {
			body: `storage_uri = "bucket/model"`,
			want: `storage_uri must be a URI with a scheme ModelMesh supports.*\(no scheme\)`,
		},
		"URI url.Parse refuses": {
			body: `storage_uri = "s3://bucket/%zz"`,
			want: `storage_uri must be a URI with a scheme ModelMesh supports.*invalid URL escape`,
		},
		"storage_uri with storage key, parameters and schema path": {
			body: `storage_uri = "s3://bucket/model"
  storage {
    key         = "localMinIO"
    schema_path = "schema.json"
    parameters  = { region = "us-south" }
  }`,
		},
		"storage_uri with storage.path": {
			body: `storage_uri = "s3://bucket/model"
  storage {
    key  = "localMinIO"
    path = "model"
  }`,
			want: `Invalid Attribute Combination.*Exactly one of these attributes must be configured:.*\[storage.path,storage_uri\]`,
		},
		"storage without path or storage_uri": {
			body: `storage { key = "localMinIO" }`,
			want: `Missing Attribute Configuration.*Exactly one of these attributes must be configured:.*\[storage.path,storage_uri\]`,
		},
		"servingRuntime annotation": {
			body: `storage_uri = "s3://bucket/model"
  annotations = { "serving.kserve.io/servingRuntime" = "mlserver-1.x" }`,
			want: `Attribute annotations\["serving.kserve.io/servingRuntime"\] value must be none of`,
		},
		"protocol_version grpc-v2": {body: `storage_uri = "s3://bucket/model"
  protocol_version = "grpc-v2"`},
		"protocol_version v1": {body: `storage_uri = "s3://bucket/model"
  protocol_version = "v1"`},
		"protocol_version unknown to KServe": {
			body: `storage_uri = "s3://bucket/model"
  protocol_version = "v3"`,
			want: `Attribute protocol_version value must be one of: \["v1" "v2" "grpc-v1" "grpc-v2"\], got: "v3"`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfigUnreachableKube() +
						"resource \"asm_inference_service\" \"test\" {\n  name = \"m\"\n  " + format + "\n  " + tc.body + "\n}\n",
					PlanOnly:           true,
					ExpectNonEmptyPlan: tc.want == "",
					ExpectError:        expectedError(tc.want),
				}},
			})
		})
	}
}

// TestInferenceServiceFields_modelSpecChanged: an update waits exactly when ModelMesh builds a
// different model from it (and so names it after a different hash).
func TestInferenceServiceFields_modelSpecChanged(t *testing.T) {
	storageType := map[string]attr.Type{
		"key": types.StringType, "path": types.StringType, "schema_path": types.StringType,
		"parameters": types.MapType{ElemType: types.StringType},
	}
	storage := func(key string) types.Object {
		k := types.StringNull()
		if key != "" {
			k = types.StringValue(key)
		}
		return types.ObjectValueMust(storageType, map[string]attr.Value{
			"key": k, "path": types.StringNull(), "schema_path": types.StringNull(),
			"parameters": types.MapNull(types.StringType),
		})
	}
	annotations := func(kv ...string) types.Map {
		elems := map[string]attr.Value{}
		for i := 0; i < len(kv); i += 2 {
			elems[kv[i]] = types.StringValue(kv[i+1])
		}
		return types.MapValueMust(types.StringType, elems)
	}
	state := inferenceServiceModel{
		StorageURI: types.StringValue("s3://bucket/model"), Storage: types.ObjectNull(storageType),
		ProtocolVersion: types.StringNull(), ServiceAccountName: types.StringValue("a"),
		Annotations: annotations(secretKeyAnnotation, "key-a", schemaPathAnnotation, "schema-a.json", "note", "a"),
	}
	for name, c := range map[string]struct {
		change  func(m *inferenceServiceModel)
		reloads bool
	}{
		"nothing":              {change: func(*inferenceServiceModel) {}},
		"service_account_name": {change: func(m *inferenceServiceModel) { m.ServiceAccountName = types.StringValue("b") }},
		"an unrelated annotation": {change: func(m *inferenceServiceModel) {
			m.Annotations = annotations(secretKeyAnnotation, "key-a", schemaPathAnnotation, "schema-a.json", "note", "b")
		}},
		"protocol_version": {change: func(m *inferenceServiceModel) { m.ProtocolVersion = types.StringValue("grpc-v2") }, reloads: true},
		"storage_uri":      {change: func(m *inferenceServiceModel) { m.StorageURI = types.StringValue("s3://bucket/v2") }, reloads: true},
		"the secretKey annotation": {change: func(m *inferenceServiceModel) {
			m.Annotations = annotations(secretKeyAnnotation, "key-b", schemaPathAnnotation, "schema-a.json")
		}, reloads: true},
		"the schemaPath annotation": {change: func(m *inferenceServiceModel) { m.Annotations = annotations(secretKeyAnnotation, "key-a", "note", "a") }, reloads: true},
		"annotations not known yet": {change: func(m *inferenceServiceModel) { m.Annotations = types.MapUnknown(types.StringType) }, reloads: true},
		"storage.key added":         {change: func(m *inferenceServiceModel) { m.Storage = storage("key-a") }, reloads: true},
	} {
		t.Run(name, func(t *testing.T) {
			plan := state
			c.change(&plan)
			if got := modelSpecChanged(&plan, &state); got != c.reloads {
				t.Errorf("modelSpecChanged = %t, want %t", got, c.reloads)
			}
		})
	}
	// With storage.key set, ModelMesh ignores the secretKey annotation: changing it reloads nothing.
	withKey := state
	withKey.Storage = storage("key-a")
	plan := withKey
	plan.Annotations = annotations(secretKeyAnnotation, "key-b", schemaPathAnnotation, "schema-a.json", "note", "a")
	if modelSpecChanged(&plan, &withKey) {
		t.Error("a secretKey annotation shadowed by storage.key must not count as a model change")
	}
}

// fieldsTest is an InferenceService whose model comes from storage_uri, on the namespace's runtime.
type fieldsTest struct{ isvcTest }

const fieldsTestURI = "s3://modelmesh-example-models/sklearn/mnist-svm.joblib"

// config renders the resource with fieldsTestURI and the extra arguments and blocks in body.
func (tc fieldsTest) config(body string) string {
	return acctest.ProviderConfig() + fmt.Sprintf(`
resource "asm_inference_service" "test" {
  name        = %q
  namespace   = %q
  storage_uri = %q
  model_format {
    name    = "sklearn"
    version = "0"
  }
%s
}
`, tc.name, tc.namespace, fieldsTestURI, body)
}

// liveModel returns spec.predictor.model of the object in the cluster.
func liveModel(obj *unstructured.Unstructured) map[string]any {
	m, _, _ := unstructured.NestedMap(obj.Object, "spec", "predictor", "model")
	return m
}

// expectLiveModel checks fields of spec.predictor.model as the apiserver returns them, and that
// ModelMesh loaded the model.
func expectLiveModel(want map[string]any) func(*unstructured.Unstructured) error {
	return func(obj *unstructured.Unstructured) error {
		got := liveModel(obj)
		for k, w := range want {
			if !reflect.DeepEqual(got[k], w) {
				return fmt.Errorf("spec.predictor.model.%s = %#v, want %#v (model %#v)", k, got[k], w, got)
			}
		}
		if s := statusOf(obj); s.ActiveModelState.ValueString() != modelStateLoaded || s.TransitionStatus.ValueString() != transitionUpToDate {
			return fmt.Errorf("live object: active %s, transition %s", s.ActiveModelState, s.TransitionStatus)
		}
		return nil
	}
}

// expectStatusKept: the plan keeps the status as in state (no wait).
func expectStatusKept() []plancheck.PlanCheck {
	return []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
		expectPlanned("ready", knownvalue.Bool(true)),
		expectPlanned("active_model_state", knownvalue.StringExact(modelStateLoaded)),
		expectPlanned("total_copies", knownvalue.Int64Exact(1)),
		expectPlanned("target_model_state", knownvalue.StringExact("")),
	}
}

// expectWait: the plan waits for a new load, whose copies and target state are only known after it.
func expectWait() []plancheck.PlanCheck {
	return []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(isvcAddr, plancheck.ResourceActionUpdate),
		expectPlanned("ready", knownvalue.Bool(true)),
		expectUnknown("total_copies"),
		expectUnknown("target_model_state"),
	}
}

// TestAccInferenceServiceFields_storageURIWithStorage: storage_uri with the storage key, parameters
// and schema path, as ModelMesh allows; the apiserver keeps all of them and the model loads.
func TestAccInferenceServiceFields_storageURIWithStorage(t *testing.T) {
	requireLocalModelMesh(t)
	tc := fieldsTest{newISVCTest(t)}
	body := fmt.Sprintf(`  runtime = %q
  storage {
    key         = "localMinIO"
    schema_path = "sklearn/schema.json"
    parameters  = { region = "us-south" }
  }
`, tc.runtime)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config: tc.config(body),
				ConfigStateChecks: []statecheck.StateCheck{
					expectState("ready", knownvalue.Bool(true)),
					expectState("storage_uri", knownvalue.StringExact(fieldsTestURI)),
					expectState("storage", knownvalue.ObjectExact(map[string]knownvalue.Check{
						"key": knownvalue.StringExact("localMinIO"), "path": knownvalue.Null(),
						"schema_path": knownvalue.StringExact("sklearn/schema.json"),
						"parameters":  knownvalue.MapExact(map[string]knownvalue.Check{"region": knownvalue.StringExact("us-south")}),
					})),
				},
				Check: tc.checkLive(t, expectLiveModel(map[string]any{
					"storageUri": fieldsTestURI,
					"storage": map[string]any{
						"key": "localMinIO", "schemaPath": "sklearn/schema.json",
						"parameters": map[string]any{"region": "us-south"},
					},
				})),
			},
			{
				ResourceName:      isvcAddr,
				ImportState:       true,
				ImportStateId:     tc.namespace + "/" + tc.name,
				ImportStateVerify: true,
			},
			{
				// A new storage parameter changes the model ModelMesh builds: the update waits.
				Config:           tc.config(strings.Replace(body, `region = "us-south"`, `region = "us-east"`, 1)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectWait()},
				Check: tc.checkLive(t, expectLiveModel(map[string]any{
					"storage": map[string]any{
						"key": "localMinIO", "schemaPath": "sklearn/schema.json",
						"parameters": map[string]any{"region": "us-east"},
					},
				})),
			},
		},
	})
}

// TestAccInferenceServiceFields_whatReloads: changes ModelMesh ignores (service_account_name, an
// unrelated annotation, a secretKey annotation storage.key overrides) plan the status as it is;
// changes of the storage annotations ModelMesh reads plan a wait.
func TestAccInferenceServiceFields_whatReloads(t *testing.T) {
	requireLocalModelMesh(t)
	tc := fieldsTest{newISVCTest(t)}
	config := func(serviceAccount string, annotations map[string]string, storageKey string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "  runtime = %q\n  service_account_name = %q\n  annotations = {\n", tc.runtime, serviceAccount)
		for _, k := range []string{secretKeyAnnotation, schemaPathAnnotation, "example.com/note"} {
			fmt.Fprintf(&b, "    %q = %q\n", k, annotations[k])
		}
		b.WriteString("  }\n")
		if storageKey != "" {
			fmt.Fprintf(&b, "  storage { key = %q }\n", storageKey)
		}
		// The second storage the annotation switches to, created with the first model; model-mesh's
		// puller fails a load from a key storage-config lacks.
		return tc.config(b.String()) + acctest.Storage{Label: "other", Name: "otherKey", Namespace: tc.namespace}.HCL()
	}
	annotations := map[string]string{secretKeyAnnotation: "localMinIO", schemaPathAnnotation: "sklearn/schema.json", "example.com/note": "a"}
	with := func(k, v string) map[string]string {
		out := maps.Clone(annotations)
		out[k] = v
		return out
	}
	liveSpec := func(serviceAccount string, annotations map[string]string) func(*unstructured.Unstructured) error {
		return func(obj *unstructured.Unstructured) error {
			got, _, _ := unstructured.NestedString(obj.Object, "spec", "predictor", "serviceAccountName")
			if got != serviceAccount {
				return fmt.Errorf("spec.predictor.serviceAccountName = %q, want %q", got, serviceAccount)
			}
			for k, v := range annotations {
				if obj.GetAnnotations()[k] != v {
					return fmt.Errorf("annotation %s = %q, want %q", k, obj.GetAnnotations()[k], v)
				}
			}
			return expectLiveModel(map[string]any{"storageUri": fieldsTestURI})(obj)
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config: config("sa-a", annotations, ""),
				Check:  tc.checkLive(t, liveSpec("sa-a", annotations)),
			},
			{
				// ModelMesh builds no service account into the model: nothing to wait for.
				Config:           config("sa-b", annotations, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectStatusKept()},
				Check:            tc.checkLive(t, liveSpec("sa-b", annotations)),
			},
			{
				Config:           config("sa-b", with("example.com/note", "b"), ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectStatusKept()},
				Check:            tc.checkLive(t, liveSpec("sa-b", with("example.com/note", "b"))),
			},
			{
				// The storage key and schema path come from these annotations when storage sets none.
				Config:           config("sa-b", with(secretKeyAnnotation, "otherKey"), ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectWait()},
				Check:            tc.checkLive(t, liveSpec("sa-b", with(secretKeyAnnotation, "otherKey"))),
			},
			{
				Config:           config("sa-b", with(schemaPathAnnotation, "sklearn/v2/schema.json"), ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectWait()},
				Check:            tc.checkLive(t, liveSpec("sa-b", with(schemaPathAnnotation, "sklearn/v2/schema.json"))),
			},
			{
				Config:           config("sa-b", annotations, "localMinIO"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectWait()},
			},
			{
				// storage.key takes precedence over the annotation, which ModelMesh then ignores.
				Config:           config("sa-b", with(secretKeyAnnotation, "otherKey"), "localMinIO"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectStatusKept()},
			},
		},
	})
}

// TestAccInferenceServiceFields_protocolVersion: without runtime, ModelMesh places the model only on
// a runtime serving its protocol version (GetPredictorTypeLabel in modelmesh-serving v0.12.0's
// controllers/modelmesh/model_type_labels.go), and a new version loads the model anew. The
// namespace's runtime lists grpc-v2, which the REST proxy also serves as v2. (A version no runtime
// serves, v1 here, is the wait's business: the controller then scales the runtime to zero, and the
// model waits with RuntimeUnhealthy.)
func TestAccInferenceServiceFields_protocolVersion(t *testing.T) {
	requireLocalModelMesh(t)
	tc := fieldsTest{newISVCTest(t)}
	config := func(protocol string) string {
		return tc.config(fmt.Sprintf("  protocol_version = %q\n", protocol))
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             tc.checkGone(t),
		Steps: []resource.TestStep{
			{
				Config:            config("grpc-v2"),
				ConfigStateChecks: []statecheck.StateCheck{expectState("protocol_version", knownvalue.StringExact("grpc-v2"))},
				Check:             tc.checkLive(t, expectLiveModel(map[string]any{"protocolVersion": "grpc-v2"})),
			},
			{
				Config:           config("v2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: expectWait()},
				Check:            tc.checkLive(t, expectLiveModel(map[string]any{"protocolVersion": "v2"})),
			},
		},
	})
}
