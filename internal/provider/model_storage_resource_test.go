package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// storageTest is the storage-config Secret of a namespace of the test's own.
type storageTest struct {
	t         *testing.T
	namespace string
}

func newStorageTest(t *testing.T) storageTest {
	acctest.PreCheck(t)
	return storageTest{t: t, namespace: acctest.CreateNamespace(t, "storage")}
}

func (st storageTest) secrets() dynamic.ResourceInterface {
	return acctest.Dynamic(st.t).Resource(kube.Secret.GVR).Namespace(st.namespace)
}

// keys decodes every key of the Secret; a missing Secret has none.
func (st storageTest) keys() map[string]map[string]any {
	obj, err := st.secrets().Get(context.Background(), defaultStorageSecret, metav1.GetOptions{})
	if err != nil {
		st.t.Fatalf("reading the Secret: %v", err)
	}
	data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
	out := map[string]map[string]any{}
	for key, encoded := range data {
		raw, _ := base64.StdEncoding.DecodeString(encoded)
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			st.t.Fatalf("key %s is not JSON: %v", key, err)
		}
		out[key] = doc
	}
	return out
}

// checkKeys compares the Secret's keys with want; a nil document means the key must be absent.
func (st storageTest) checkKeys(want map[string]map[string]any) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got := st.keys()
		for key, doc := range want {
			if !reflect.DeepEqual(got[key], doc) {
				return fmt.Errorf("key %s: got %v, want %v", key, got[key], doc)
			}
		}
		return nil
	}
}

// writeKey writes a key as another tool would: a JSON merge patch (an update, not an apply).
func (st storageTest) writeKey(manager, key string, doc map[string]any) {
	var value any
	if doc != nil {
		raw, _ := json.Marshal(doc)
		value = base64.StdEncoding.EncodeToString(raw)
	}
	patch, _ := json.Marshal(map[string]any{"data": map[string]any{key: value}})
	if _, err := st.secrets().Patch(context.Background(), defaultStorageSecret, k8stypes.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: manager}); err != nil {
		st.t.Fatal(err)
	}
}

func s3Block(name, bucket string) string {
	return fmt.Sprintf(`
resource "asm_model_storage" %[1]q {
  name = %[1]q
  type = "s3"
  s3 {
    access_key_id     = "AKIAIOSFODNN7EXAMPLE"
    secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    endpoint_url      = "http://minio.minio:9000"
    bucket            = %[2]q
    region            = "us-south"
  }
`, name, bucket)
}

func s3Doc(bucket string) map[string]any {
	return map[string]any{
		"type": "s3", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"endpoint_url": "http://minio.minio:9000", "bucket": bucket, "region": "us-south",
	}
}

func (st storageTest) config(blocks ...string) string {
	config := acctest.ProviderConfig()
	for _, b := range blocks {
		config += b + fmt.Sprintf("  namespace = %q\n}\n", st.namespace)
	}
	return config
}

const gcsBlock = `
resource "asm_model_storage" "b" {
  name        = "b"
  type        = "gcs"
  config_json = jsonencode({ private_key = "-----BEGIN PRIVATE KEY-----", project = "p" })
`

func TestAccModelStorage_sharedSecret(t *testing.T) {
	st := newStorageTest(t)
	foreign := map[string]any{"type": "s3", "bucket": "theirs"}
	gcs := map[string]any{"type": "gcs", "private_key": "-----BEGIN PRIVATE KEY-----", "project": "p"}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		// Destroying removes only the provider's keys; the Secret and the foreign key stay.
		CheckDestroy: st.checkKeys(map[string]map[string]any{"a": nil, "b": nil, "foreign": foreign}),
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					secret := secretObject(kube.Ref{Namespace: st.namespace, Name: defaultStorageSecret})
					if _, err := st.secrets().Create(context.Background(), secret, metav1.CreateOptions{FieldManager: "someone-else"}); err != nil {
						t.Fatal(err)
					}
					st.writeKey("someone-else", "foreign", foreign)
				},
				Config: st.config(s3Block("a", "models"), gcsBlock),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectSensitiveValue("asm_model_storage.a", tfjsonpath.New("s3").AtMapKey("secret_access_key")),
					plancheck.ExpectSensitiveValue("asm_model_storage.b", tfjsonpath.New("config_json")),
				}},
				Check: resource.ComposeTestCheckFunc(
					st.checkKeys(map[string]map[string]any{"a": s3Doc("models"), "b": gcs, "foreign": foreign}),
					resource.TestCheckResourceAttr("asm_model_storage.a", "id", st.namespace+"/storage-config/a"),
					resource.TestCheckResourceAttr("asm_model_storage.a", "secret_name", "storage-config"),
				),
			},
			{
				Config: st.config(s3Block("a", "models-v2"), gcsBlock),
				Check:  st.checkKeys(map[string]map[string]any{"a": s3Doc("models-v2"), "b": gcs, "foreign": foreign}),
			},
			{
				Config: st.config(s3Block("a", "models-v2")),
				Check:  st.checkKeys(map[string]map[string]any{"a": s3Doc("models-v2"), "b": nil, "foreign": foreign}),
			},
			{
				ResourceName:      "asm_model_storage.a",
				ImportState:       true,
				ImportStateId:     st.namespace + "/storage-config/a",
				ImportStateVerify: true,
			},
		},
	})
}

func TestAccModelStorage_createsSecretDriftAndRemoval(t *testing.T) {
	st := newStorageTest(t)
	const addr = "asm_model_storage.localMinIO"
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// No Secret yet: the first key creates it, owned field by field.
				Config: st.config(s3Block("localMinIO", "models")),
				Check: resource.ComposeTestCheckFunc(
					st.checkKeys(map[string]map[string]any{"localMinIO": s3Doc("models")}),
					func(*terraform.State) error {
						obj, err := st.secrets().Get(context.Background(), defaultStorageSecret, metav1.GetOptions{})
						if err != nil {
							return err
						}
						owned, err := kube.Owned(&unstructured.Unstructured{Object: obj.Object}, "terraform-provider-asm/storage/localMinIO")
						if err != nil || !owned.Has("data", "localMinIO") {
							return fmt.Errorf("the key's field manager does not own it (err %v)", err)
						}
						return nil
					},
				),
			},
			{
				// Someone edits the key: drift, and writing it back needs force_conflicts.
				PreConfig:          func() { st.writeKey("kubectl-edit", "localMinIO", s3Doc("edited")) },
				Config:             st.config(s3Block("localMinIO", "models")),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
			},
			{
				Config:      st.config(s3Block("localMinIO", "models")),
				ExpectError: errorPattern(`conflict with another field manager.*kubectl-edit.*force_conflicts = true`),
			},
			{
				Config: st.config(s3Block("localMinIO", "models") + "  force_conflicts = true\n"),
				Check:  st.checkKeys(map[string]map[string]any{"localMinIO": s3Doc("models")}),
			},
			{
				// Fields the s3 block has no attribute for are drift too.
				PreConfig: func() {
					doc := s3Doc("models")
					doc["certificate"] = "-----BEGIN CERTIFICATE-----"
					st.writeKey("kubectl-edit", "localMinIO", doc)
				},
				Config:             st.config(s3Block("localMinIO", "models") + "  force_conflicts = true\n"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: st.config(s3Block("localMinIO", "models") + "  force_conflicts = true\n"),
				Check:  st.checkKeys(map[string]map[string]any{"localMinIO": s3Doc("models")}),
			},
			{
				// Removed out of band: written again.
				PreConfig: func() { st.writeKey("kubectl-edit", "localMinIO", nil) },
				Config:    st.config(s3Block("localMinIO", "models") + "  force_conflicts = true\n"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreate),
				}},
				Check: st.checkKeys(map[string]map[string]any{"localMinIO": s3Doc("models")}),
			},
			{
				// Another applier claims the same value: destroy still removes the key.
				PreConfig: func() {
					secret := secretObject(kube.Ref{Namespace: st.namespace, Name: defaultStorageSecret})
					raw, _ := json.Marshal(s3Doc("models"))
					secret.Object["data"] = map[string]any{"localMinIO": base64.StdEncoding.EncodeToString(raw)}
					if _, err := st.secrets().Apply(context.Background(), defaultStorageSecret, secret, metav1.ApplyOptions{FieldManager: "other-applier"}); err != nil {
						t.Fatal(err)
					}
				},
				Config: acctest.ProviderConfig(),
				Check: func(*terraform.State) error {
					if _, still := st.keys()["localMinIO"]; still {
						return fmt.Errorf("key localMinIO is still in the Secret after destroy")
					}
					return nil
				},
			},
		},
	})
}

// TestModelStorage_validation needs no cluster, and must never echo config_json.
func TestModelStorage_validation(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"config_json alone": {
			body: `type = "gcs"
  config_json = jsonencode({ private_key = "k" })`,
		},
		"namespace not a DNS label": {
			body: `namespace = "Bad NS"
  type = "gcs"
  config_json = jsonencode({ private_key = "k" })`,
			want: `Attribute namespace must be a lowercase RFC 1123 label`,
		},
		"s3 with another type": {
			body: `type = "gcs"
  s3 { bucket = "b" }`,
			want: `s3 block needs type = "s3"`,
		},
		"type inside config_json": {
			body: `type = "gcs"
  config_json = jsonencode({ type = "gcs" })`,
			want: `Set the storage type with the type attribute`,
		},
		"config_json not JSON": {
			body: `type = "gcs"
  config_json = "{ hunter2"`,
			want: `config_json must be a JSON object.*syntax error at byte`,
		},
		"s3 and config_json": {
			body: `type = "s3"
  s3 { bucket = "b" }
  config_json = jsonencode({ a = "b" })`,
			want: `Exactly one of these attributes must be configured: \[s3,config_json,config_json_wo\]`,
		},
		"config_json and config_json_wo": {
			body: `type = "gcs"
  config_json            = jsonencode({ a = "b" })
  config_json_wo         = jsonencode({ a = "b" })
  config_json_wo_version = 1`,
			want: `Exactly one of these attributes must be configured: \[s3,config_json,config_json_wo\]`,
		},
		"secret_access_key and secret_access_key_wo": {
			body: `type = "s3"
  s3 {
    secret_access_key            = "a"
    secret_access_key_wo         = "b"
    secret_access_key_wo_version = 1
  }`,
			want: `Attribute "s3.secret_access_key" cannot be specified when "s3.secret_access_key_wo" is specified`,
		},
		"secret_access_key_wo without its version": {
			body: `type = "s3"
  s3 { secret_access_key_wo = "b" }`,
			want: `Attribute "s3.secret_access_key_wo_version" must be specified when "s3.secret_access_key_wo" is\s+specified`,
		},
		"config_json_wo_version without config_json_wo": {
			body: `type = "gcs"
  config_json            = "{}"
  config_json_wo_version = 1`,
			want: `Attribute "config_json_wo" must be specified when "config_json_wo_version" is specified`,
		},
		"type inside config_json_wo": {
			body: `type = "gcs"
  config_json_wo         = jsonencode({ type = "gcs" })
  config_json_wo_version = 1`,
			want: `Set the storage type with the type attribute, not inside config_json_wo`,
		},
		"key name": {
			body: `type = "gcs"
  config_json = "{}"
  name = "a/b"`,
			want: `must consist of letters, digits`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			nameLine := "  name = \"k\"\n"
			if regexp.MustCompile(`(?m)^\s*name =`).MatchString(tc.body) {
				nameLine = ""
			}
			resource.ParallelTest(t, resource.TestCase{
				IsUnitTest:               true, // validation only: runs without TF_ACC, beside its siblings
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfigUnreachableKube() +
						"resource \"asm_model_storage\" \"test\" {\n" + nameLine + "  " + tc.body + "\n}\n",
					PlanOnly:           true,
					ExpectNonEmptyPlan: tc.want == "",
					ExpectError:        expectedError(tc.want),
				}},
			})
		})
	}
}

func TestModelStorageReadDocument(t *testing.T) {
	s3Form := func() *modelStorageModel {
		m := &modelStorageModel{Type: types.StringValue("s3"), S3: &s3StorageModel{}, ConfigJSON: jsonObjectNull()}
		for _, f := range m.S3.fields() {
			*f = types.StringNull()
		}
		m.S3.Bucket = types.StringValue("models")
		return m
	}
	for name, tc := range map[string]struct {
		prior      *modelStorageModel
		value      string
		wantS3     bool
		wantType   string
		wantConfig string
	}{
		"s3 round trip":       {prior: s3Form(), value: `{"type":"s3","bucket":"models"}`, wantS3: true, wantType: "s3"},
		"s3 with extra field": {prior: s3Form(), value: `{"type":"s3","bucket":"models","certificate":"c"}`, wantS3: true, wantType: "s3", wantConfig: `{"certificate":"c"}`},
		"config_json form": {
			prior: &modelStorageModel{Type: types.StringValue("gcs"), ConfigJSON: jsonObjectValue{StringValue: types.StringValue(`{"private_key": "k"}`)}},
			value: `{"type":"gcs","private_key":"k"}`, wantType: "gcs", wantConfig: `{"private_key":"k"}`,
		},
		"import of s3":        {prior: &modelStorageModel{ConfigJSON: jsonObjectNull()}, value: `{"type":"s3","bucket":"b"}`, wantS3: true, wantType: "s3"},
		"import of s3 extras": {prior: &modelStorageModel{ConfigJSON: jsonObjectNull()}, value: `{"type":"s3","bucket":"b","anonymous":true}`, wantType: "s3", wantConfig: `{"anonymous":true,"bucket":"b"}`},
		"not JSON":            {prior: s3Form(), value: `oops`, wantConfig: `oops`},
	} {
		t.Run(name, func(t *testing.T) {
			m := tc.prior
			if diags := m.readDocument([]byte(tc.value)); diags.HasError() {
				t.Fatal(diags)
			}
			if (m.S3 != nil) != tc.wantS3 || m.Type.ValueString() != tc.wantType || m.ConfigJSON.ValueString() != tc.wantConfig {
				t.Fatalf("got s3 %v, type %s, config_json %q", m.S3, m.Type, m.ConfigJSON.ValueString())
			}
			if !tc.wantS3 || tc.wantConfig != "" {
				return
			}
			// What was read is what would be written.
			written, err := m.document()
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			_ = json.Unmarshal(written, &got)
			_ = json.Unmarshal([]byte(tc.value), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip: wrote %s, read %s", written, tc.value)
			}
		})
	}
}
