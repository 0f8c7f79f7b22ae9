package provider

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
)

// sensitiveStateAttributes are the flatmap keys, per resource type, that are sensitive in the
// schema: the only places a secret may be stored in state.
var sensitiveStateAttributes = map[string][]string{
	"asm_model_storage": {"s3.secret_access_key", "config_json"},
}

func isSensitiveStateAttribute(resourceType, key string) bool {
	for _, k := range sensitiveStateAttributes[resourceType] {
		if key == k {
			return true
		}
	}
	return false
}

// kubeconfigSecrets are the credentials in the kubeconfig the provider block points at: bearer
// tokens and client keys, raw and as the file stores them (base64), plus each PEM body line.
func kubeconfigSecrets(t *testing.T, providerConfig string) []string {
	t.Helper()
	m := regexp.MustCompile(`config_path\s*=\s*"([^"]+)"`).FindStringSubmatch(providerConfig)
	if m == nil {
		t.Fatalf("no config_path in the provider block:\n%s", providerConfig)
	}
	cfg, err := clientcmd.LoadFromFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, auth := range cfg.AuthInfos {
		if auth.Token != "" {
			secrets = append(secrets, auth.Token)
		}
		if len(auth.ClientKeyData) > 0 {
			secrets = append(secrets, string(auth.ClientKeyData), base64.StdEncoding.EncodeToString(auth.ClientKeyData))
			for _, line := range strings.Split(string(auth.ClientKeyData), "\n") {
				if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
					secrets = append(secrets, line)
				}
			}
		}
	}
	if len(secrets) == 0 {
		t.Fatalf("the kubeconfig %s holds no token or client key: the test would prove nothing about them", m[1])
	}
	return secrets
}

// TestAccSecurity_noSecretsInLogsOrState applies, refreshes and destroys resources that carry
// every kind of secret with TRACE logging to a file, then requires that no secret reached the log
// and that secrets are in state only under sensitive attributes.
func TestAccSecurity_noSecretsInLogsOrState(t *testing.T) {
	acctest.SkipWithoutFake(t) // the ASM secret checked for is the fixture's
	acctest.PreCheck(t)
	ns := acctest.CreateNamespace(t, "sec")
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	storageSecret := "stor-" + acctest.RandomName("secret-access-key")
	jsonSecret := "json-" + acctest.RandomName("private-key")
	providerConfig := acctest.ProviderConfig()
	if !strings.Contains(providerConfig, localstack.AccessKeySecret) {
		t.Fatal("the provider block does not carry secret_key: the test would prove nothing about it")
	}

	secrets := map[string]string{
		"ASM access key secret":  localstack.AccessKeySecret,
		"s3 secret_access_key":   storageSecret,
		"config_json secret":     jsonSecret,
		"ASM secret base64":      base64.StdEncoding.EncodeToString([]byte(localstack.AccessKeySecret)),
		"s3 secret base64":       base64.StdEncoding.EncodeToString([]byte(storageSecret)),
		"config_json secret b64": base64.StdEncoding.EncodeToString([]byte(jsonSecret)),
	}
	for i, s := range kubeconfigSecrets(t, providerConfig) {
		secrets[fmt.Sprintf("kubeconfig credential #%d", i)] = s
	}

	traceLog := acctest.TraceLog(t)

	config := providerConfig + fmt.Sprintf(`
resource "asm_model_storage" "s3" {
  name      = "s3"
  namespace = %[1]q
  type      = "s3"
  s3 {
    access_key_id     = "AKIAIOSFODNN7EXAMPLE"
    secret_access_key = %[2]q
    endpoint_url      = "http://minio.minio:9000"
    bucket            = "models"
    region            = "us-south"
  }
}

resource "asm_model_storage" "json" {
  name        = "json"
  namespace   = %[1]q
  type        = "gcs"
  config_json = jsonencode({ private_key = %[3]q, project = "p" })
}

resource "asm_cluster_attachment" "test" {
  mesh_id    = %[4]q
  cluster_id = %[5]q
}

data "asm_mesh" "test" {
  mesh_id = asm_cluster_attachment.test.mesh_id
}
`, ns, storageSecret, jsonSecret, meshID, clusterID)

	checkState := func(s *terraform.State) error {
		found := map[string]bool{}
		for addr, rs := range s.RootModule().Resources {
			for key, value := range rs.Primary.Attributes {
				for what, secret := range secrets {
					if !strings.Contains(value, secret) {
						continue
					}
					if !isSensitiveStateAttribute(rs.Type, key) {
						return fmt.Errorf("%s is in state under %s.%s, which is not sensitive", what, addr, key)
					}
					found[what] = true
				}
			}
		}
		// The state does hold the secrets the resources manage, under their sensitive attributes:
		// otherwise the check above looked in the wrong place.
		for _, what := range []string{"s3 secret_access_key", "config_json secret"} {
			if !found[what] {
				return fmt.Errorf("%s is not in state at all: the check cannot see it", what)
			}
		}
		return nil
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{Config: config, Check: checkState},
			{RefreshState: true, Check: checkState},
		},
	})

	log := traceLog()
	// The log must really hold what the provider logged, or its absence of secrets proves nothing.
	for _, line := range []string{"configured asm provider", "ASM call succeeded"} {
		if !strings.Contains(log, line) {
			t.Fatalf("the TRACE log (%d bytes) lacks the provider's %q line: the provider does not log to it", len(log), line)
		}
	}
	if !strings.Contains(log, "[TRACE]") && !strings.Contains(log, "@level=trace") {
		t.Fatalf("the log holds no TRACE lines")
	}
	for n, line := range strings.Split(log, "\n") {
		// terraform-plugin-testing itself echoes each step's HCL into the log, as "  | " lines: that
		// is the test's own input, not something the provider or Terraform logged.
		if strings.HasPrefix(line, "  | ") {
			continue
		}
		for what, secret := range secrets {
			if i := strings.Index(line, secret); i >= 0 {
				t.Errorf("%s is in line %d of the TRACE log: %q", what, n+1, line[max(0, i-300):min(len(line), i+len(secret)+200)])
			}
		}
	}
	t.Logf("checked %d bytes of TRACE log for %d secrets", len(log), len(secrets))
}

// TestAccSecurity_httpsUnlessConfigured: without protocol, the provider talks HTTPS even to an
// endpoint that serves plain HTTP, and the failure says which setting to change.
func TestAccSecurity_httpsUnlessConfigured(t *testing.T) {
	acctest.SkipWithoutFake(t)
	acctest.PreCheck(t)
	t.Setenv("ALIBABA_CLOUD_PROTOCOL", "")
	withProtocol := acctest.ProviderConfig()
	config := regexp.MustCompile(`(?m)^\s*protocol\s*=\s*"HTTP"\n`).ReplaceAllString(withProtocol, "")
	if config == withProtocol || strings.Contains(config, "protocol") {
		t.Fatalf("could not remove protocol from the provider block:\n%s", withProtocol)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      config + fmt.Sprintf("\ndata \"asm_mesh\" \"test\" {\n  mesh_id = %q\n}\n", localstack.MeshID),
				ExpectError: regexp.MustCompile(`(?s)TLS handshake.*set\s+protocol\s+=\s+"HTTP"`),
			},
			{
				// The same block with protocol = "HTTP" reads the mesh: the failure above was the protocol.
				Config: withProtocol + fmt.Sprintf("\ndata \"asm_mesh\" \"test\" {\n  mesh_id = %q\n}\n", localstack.MeshID),
				Check:  resource.TestCheckResourceAttr("data.asm_mesh.test", "state", "running"),
			},
		},
	})
}

// TestAccSecurity_wrongSecretKey: a wrong secret is reported as a credentials problem that names
// the settings to check, and the wrong secret itself is not echoed.
func TestAccSecurity_wrongSecretKey(t *testing.T) {
	acctest.SkipWithoutFake(t)
	acctest.PreCheck(t)
	wrong := "wrong-" + acctest.RandomName("secret")
	config := strings.Replace(acctest.ProviderConfig(), fmt.Sprintf("%q", localstack.AccessKeySecret), fmt.Sprintf("%q", wrong), 1)
	if !strings.Contains(config, wrong) {
		t.Fatal("could not replace secret_key in the provider block")
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config + fmt.Sprintf("\ndata \"asm_mesh\" \"test\" {\n  mesh_id = %q\n}\n", localstack.MeshID),
			ExpectError: regexp.MustCompile(`(?s)SignatureDoesNotMatch.*access\s+key\s+secret\s+does\s+not\s+match.*check\s+secret_key\s+in\s+the\s+asm\s+provider\s+block` +
				`.*ALIBABA_CLOUD_ACCESS_KEY_SECRET`),
		}},
	})
}
