package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
)

// secretScan fails when the JSON of a state or plan, as `terraform show -json` prints it, holds
// one of the secrets in plain text or base64, and (with mustFind) when it lacks that one: a scan
// that finds nothing at all might be looking in the wrong place.
type secretScan struct {
	secrets  map[string]string // what → secret
	mustFind string
}

func (s secretScan) scan(what string, doc any) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	text := string(raw)
	for name, secret := range s.secrets {
		if strings.Contains(text, secret) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(secret))) {
			return fmt.Errorf("%s is in the %s", name, what)
		}
	}
	if s.mustFind != "" && !strings.Contains(text, s.mustFind) {
		return fmt.Errorf("the %s lacks %q, which must be there: the scan proves nothing", what, s.mustFind)
	}
	return nil
}

func (s secretScan) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = s.scan("state", req.State)
}

func (s secretScan) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = s.scan("plan JSON", req.Plan)
}

// writeOnlyStorage is an s3 key whose secret is the ephemeral variable s3_secret (version
// secretVersion; zero: the secret_access_key form instead, from variable stored_secret) and a gcs
// key whose private_key is the ephemeral variable gcs_key in config_json_wo (version 1 or 2).
func (st storageTest) writeOnlyStorage(secretVersion, jsonVersion int, bucket string) string {
	secret := "secret_access_key = var.stored_secret"
	if secretVersion > 0 {
		secret = fmt.Sprintf("secret_access_key_wo         = var.s3_secret\n    secret_access_key_wo_version = %d", secretVersion)
	}
	return acctest.ProviderConfig() + fmt.Sprintf(`
variable "s3_secret" {
  type      = string
  ephemeral = true
}

variable "gcs_key" {
  type      = string
  ephemeral = true
}

variable "stored_secret" {
  type      = string
  sensitive = true
  default   = null
}

resource "asm_model_storage" "s3" {
  name      = "s3"
  namespace = %[1]q
  type      = "s3"
  s3 {
    access_key_id = "AKIAIOSFODNN7EXAMPLE"
    %[2]s
    endpoint_url  = "http://minio.minio:9000"
    bucket        = %[3]q
  }
}

resource "asm_model_storage" "gcs" {
  name                   = "gcs"
  namespace              = %[1]q
  type                   = "gcs"
  config_json_wo         = jsonencode({ private_key = var.gcs_key, project = "p" })
  config_json_wo_version = %[4]d
}
`, st.namespace, secret, bucket, jsonVersion)
}

func s3DocWith(bucket, secret string) map[string]any {
	return map[string]any{"type": "s3", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": secret,
		"endpoint_url": "http://minio.minio:9000", "bucket": bucket}
}

func gcsDocWith(key string) map[string]any {
	return map[string]any{"type": "gcs", "private_key": key, "project": "p"}
}

// TestAccModelStorage_writeOnly: write-only secrets reach the Secret and are rotated by their
// version, and no secret they carry is in state, in plan JSON or in the TRACE log; moving from
// secret_access_key to secret_access_key_wo removes the stored secret from state.
func TestAccModelStorage_writeOnly(t *testing.T) {
	st := newStorageTest(t)
	stored := "stored-" + acctest.RandomName("secret")
	woSecrets := map[string]string{
		"s3 write-only secret #1":   "wo1-" + acctest.RandomName("secret"),
		"s3 write-only secret #2":   "wo2-" + acctest.RandomName("secret"),
		"config_json_wo secret #1":  "gcs1-" + acctest.RandomName("key"),
		"config_json_wo secret #2":  "gcs2-" + acctest.RandomName("key"),
		"s3 write-only unversioned": "wo3-" + acctest.RandomName("secret"),
	}
	s1, s2, unversioned := woSecrets["s3 write-only secret #1"], woSecrets["s3 write-only secret #2"], woSecrets["s3 write-only unversioned"]
	k1, k2 := woSecrets["config_json_wo secret #1"], woSecrets["config_json_wo secret #2"]
	vars := func(s3Secret, gcsKey string) config.Variables {
		return config.Variables{"s3_secret": config.StringVariable(s3Secret), "gcs_key": config.StringVariable(gcsKey)}
	}
	// Once s3 uses the write-only form, stored must be gone from state too.
	clean := secretScan{secrets: map[string]string{"stored secret_access_key": stored}}
	for what, secret := range woSecrets {
		clean.secrets[what] = secret
	}
	const s3Addr, gcsAddr = "asm_model_storage.s3", "asm_model_storage.gcs"
	noSecretAttributes := []statecheck.StateCheck{
		clean,
		statecheck.ExpectKnownValue(s3Addr, tfjsonpath.New("s3").AtMapKey("secret_access_key"), knownvalue.Null()),
		statecheck.ExpectKnownValue(s3Addr, tfjsonpath.New("s3").AtMapKey("secret_access_key_wo"), knownvalue.Null()),
		statecheck.ExpectKnownValue(gcsAddr, tfjsonpath.New("config_json"), knownvalue.Null()),
		statecheck.ExpectKnownValue(gcsAddr, tfjsonpath.New("config_json_wo"), knownvalue.Null()),
	}

	traceLog := acctest.TraceLog(t)
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_11_0)},
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// The stored form, as on older CLIs: the scan does see a secret in state.
				Config: st.writeOnlyStorage(0, 1, "models"),
				ConfigVariables: config.Variables{"s3_secret": config.StringVariable(s1), "gcs_key": config.StringVariable(k1),
					"stored_secret": config.StringVariable(stored)},
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					secretScan{secrets: woSecrets},
				}},
				ConfigStateChecks: []statecheck.StateCheck{secretScan{secrets: woSecrets, mustFind: stored}},
				Check:             st.checkKeys(map[string]map[string]any{"s3": s3DocWith("models", stored), "gcs": gcsDocWith(k1)}),
			},
			{
				Config:          st.writeOnlyStorage(1, 1, "models"),
				ConfigVariables: vars(s1, k1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(s3Addr, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(gcsAddr, plancheck.ResourceActionNoop),
					secretScan{secrets: woSecrets}, // the prior state still holds the stored secret

				}},
				ConfigStateChecks: append(noSecretAttributes,
					statecheck.ExpectKnownValue(s3Addr, tfjsonpath.New("s3").AtMapKey("secret_access_key_wo_version"), knownvalue.Int64Exact(1))),
				Check: st.checkKeys(map[string]map[string]any{"s3": s3DocWith("models", s1), "gcs": gcsDocWith(k1)}),
			},
			{
				// A new write-only value alone is no change Terraform can see: the Secret keeps the old one.
				Config:          st.writeOnlyStorage(1, 1, "models"),
				ConfigVariables: vars(unversioned, k1),
				PlanOnly:        true,
			},
			{
				// Bumping the versions rotates both secrets.
				Config:          st.writeOnlyStorage(2, 2, "models"),
				ConfigVariables: vars(s2, k2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(s3Addr, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(gcsAddr, plancheck.ResourceActionUpdate),
					clean,
				}},
				ConfigStateChecks: noSecretAttributes,
				Check:             st.checkKeys(map[string]map[string]any{"s3": s3DocWith("models", s2), "gcs": gcsDocWith(k2)}),
			},
			{
				// Any other change writes the key whole, with the write-only secret of the configuration.
				Config:            st.writeOnlyStorage(2, 2, "models-v2"),
				ConfigVariables:   vars(s2, k2),
				ConfigStateChecks: noSecretAttributes,
				Check:             st.checkKeys(map[string]map[string]any{"s3": s3DocWith("models-v2", s2), "gcs": gcsDocWith(k2)}),
			},
			{
				// Drift of a field that is in state still shows.
				PreConfig:          func() { st.writeKey("kubectl-edit", "s3", s3DocWith("edited", s2)) },
				Config:             st.writeOnlyStorage(2, 2, "models-v2"),
				ConfigVariables:    vars(s2, k2),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(s3Addr, plancheck.ResourceActionUpdate),
					clean,
				}},
			},
			{
				// Put back as it was: refreshed and planned again, no drift, and still no secret.
				PreConfig:       func() { st.writeKey("kubectl-edit", "s3", s3DocWith("models-v2", s2)) },
				Config:          st.writeOnlyStorage(2, 2, "models-v2"),
				ConfigVariables: vars(s2, k2),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(), clean,
				}},
				ConfigStateChecks: noSecretAttributes,
			},
		},
	})

	log := traceLog()
	if !strings.Contains(log, "[TRACE]") && !strings.Contains(log, "@level=trace") {
		t.Fatalf("the log (%d bytes) holds no TRACE lines", len(log))
	}
	// The stored secret is in state in the first step, so the log may carry it; the write-only ones never.
	for n, line := range strings.Split(log, "\n") {
		for what, secret := range woSecrets {
			if i := strings.Index(line, secret); i >= 0 {
				t.Errorf("%s is in line %d of the TRACE log: %q", what, n+1, line[max(0, i-300):min(len(line), i+len(secret)+200)])
			}
		}
	}
	t.Logf("checked %d bytes of TRACE log for %d write-only secrets", len(log), len(woSecrets))
}

// TestModelStorage_writeOnlyNeedsNewerCLI runs only under CLIs without write-only arguments
// (Terraform before 1.11): the error names the attribute to use instead.
func TestModelStorage_writeOnlyNeedsNewerCLI(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"secret_access_key_wo": {
			body: `type = "s3"
  s3 {
    secret_access_key_wo         = "hunter2"
    secret_access_key_wo_version = 1
  }`,
			want: `s3.secret_access_key_wo needs Terraform or OpenTofu 1.11 or later.*set s3.secret_access_key instead of s3.secret_access_key_wo and remove s3.secret_access_key_wo_version`,
		},
		"config_json_wo": {
			body: `type = "gcs"
  config_json_wo         = jsonencode({ private_key = "hunter2" })
  config_json_wo_version = 1`,
			want: `config_json_wo needs Terraform or OpenTofu 1.11 or later.*set config_json instead of config_json_wo and remove config_json_wo_version`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			resource.ParallelTest(t, resource.TestCase{
				IsUnitTest: true,
				TerraformVersionChecks: []tfversion.TerraformVersionCheck{
					tfversion.SkipBetween(tfversion.Version1_11_0, version.Must(version.NewVersion("99.0.0"))),
				},
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfigUnreachableKube() +
						"resource \"asm_model_storage\" \"test\" {\n  name = \"k\"\n  " + tc.body + "\n}\n",
					PlanOnly:    true,
					ExpectError: expectedError(tc.want),
				}},
			})
		})
	}
}

// TestModelStorageReadDocumentWriteOnly: what a write-only argument wrote is never read into state,
// even when the key is no longer JSON; the rest still is, so that its drift shows.
func TestModelStorageReadDocumentWriteOnly(t *testing.T) {
	const secret = "hunter2"
	s3Form := func() *modelStorageModel {
		return &modelStorageModel{Type: types.StringValue("s3"), ConfigJSON: jsonObjectNull(),
			S3: &s3StorageModel{Bucket: types.StringValue("models"), SecretAccessKeyWOVersion: types.Int64Value(3)}}
	}
	m := s3Form()
	if diags := m.readDocument([]byte(`{"type":"s3","bucket":"edited","secret_access_key":"` + secret + `"}`)); diags.HasError() {
		t.Fatal(diags)
	}
	if m.S3 == nil || !m.S3.SecretAccessKey.IsNull() || m.S3.Bucket.ValueString() != "edited" ||
		m.S3.SecretAccessKeyWOVersion.ValueInt64() != 3 || !m.ConfigJSON.IsNull() {
		t.Errorf("s3 with secret_access_key_wo: got s3 %+v, config_json %q", m.S3, m.ConfigJSON.ValueString())
	}

	m = &modelStorageModel{Type: types.StringValue("gcs"), ConfigJSON: jsonObjectNull(), ConfigJSONWOVersion: types.Int64Value(1)}
	if diags := m.readDocument([]byte(`{"type":"azure","private_key":"` + secret + `"}`)); diags.HasError() {
		t.Fatal(diags)
	}
	if m.Type.ValueString() != "azure" || m.S3 != nil || !m.ConfigJSON.IsNull() || m.ConfigJSONWOVersion.ValueInt64() != 1 {
		t.Errorf("config_json_wo: got type %s, s3 %+v, config_json %q", m.Type, m.S3, m.ConfigJSON.ValueString())
	}

	for name, m := range map[string]*modelStorageModel{"s3": s3Form(), "config_json_wo": {ConfigJSONWOVersion: types.Int64Value(1)}} {
		if diags := m.readDocument([]byte(`not JSON ` + secret)); diags.HasError() {
			t.Fatal(diags)
		}
		if !m.Type.IsNull() || !m.ConfigJSON.IsNull() || m.S3 != nil {
			t.Errorf("%s, key no longer JSON: want type, s3 and config_json null (drift without the value), got %s, %+v, %q",
				name, m.Type, m.S3, m.ConfigJSON.ValueString())
		}
	}
}
