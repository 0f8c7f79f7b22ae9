package provider

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
)

func TestMain(m *testing.M) {
	os.Exit(acctest.Run(m, New("test")))
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestProviderDataEnvironmentFallbacks(t *testing.T) {
	data := newProviderData(providerModel{}, envOf(map[string]string{
		"ALIBABA_CLOUD_REGION":               "cn-beijing",
		"ALICLOUD_REGION":                    "cn-shanghai",
		"ALICLOUD_ACCESS_KEY":                "ak-legacy",
		"ALICLOUD_SECRET_KEY":                "sk-legacy",
		"ALIBABA_CLOUD_SECURITY_TOKEN":       "sts",
		"ALIBABA_CLOUD_SERVICEMESH_ENDPOINT": "127.0.0.1:9000",
		"KUBECONFIG":                         "/kube/config",
		"KUBE_CTX":                           "ack",
		"KUBE_INSECURE":                      "true",
	}))
	cfg := data.asmConfig
	if cfg.Region != "cn-beijing" {
		t.Errorf("region: ALIBABA_CLOUD_REGION must win over ALICLOUD_REGION, got %q", cfg.Region)
	}
	if auth := data.auth; auth.AccessKey != "ak-legacy" || auth.SecretKey != "sk-legacy" || auth.SecurityToken != "sts" {
		t.Errorf("credentials from the alicloud variables not used: %+v", auth)
	}
	if cfg.Endpoint != "127.0.0.1:9000" {
		t.Errorf("endpoint: got %q", cfg.Endpoint)
	}
	if cfg.Protocol != "HTTPS" {
		t.Errorf("protocol must default to HTTPS, got %q", cfg.Protocol)
	}
	if cfg.MaxRetries != 5 {
		t.Errorf("max retries default: got %d", cfg.MaxRetries)
	}
	k := data.kubeConfig
	if k.ConfigPath != "/kube/config" || k.ConfigContext != "ack" || !k.Insecure {
		t.Errorf("kubernetes environment fallbacks not used: %+v", k)
	}
	if data.namespace != defaultNamespace || data.fieldManager != defaultFieldManager {
		t.Errorf("defaults: namespace %q, field manager %q", data.namespace, data.fieldManager)
	}
}

func TestProviderDataConfigurationWinsOverEnvironment(t *testing.T) {
	env := envOf(map[string]string{
		"ALIBABA_CLOUD_REGION":            "cn-beijing",
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     "env-ak",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-sk",
		"KUBE_CONFIG_PATH":                "/from/kube-config-path",
		"KUBECONFIG":                      "/from/kubeconfig",
		"KUBE_INSECURE":                   "true",
	})
	data := newProviderData(providerModel{
		Region:     types.StringValue("cn-hangzhou"),
		AccessKey:  types.StringValue("cfg-ak"),
		Protocol:   types.StringValue("HTTP"),
		MaxRetries: types.Int64Value(0),
		Kubernetes: &kubernetesModel{
			Host:      types.StringValue("https://10.0.0.1:6443"),
			Insecure:  types.BoolValue(false),
			Namespace: types.StringValue("models"),
		},
	}, env)
	cfg := data.asmConfig
	if cfg.Region != "cn-hangzhou" || data.auth.AccessKey != "cfg-ak" {
		t.Errorf("configuration must win: %+v, %+v", cfg, data.auth)
	}
	if data.auth.SecretKey != "env-sk" {
		t.Errorf("unset attributes still fall back per attribute: secret %q", data.auth.SecretKey)
	}
	if cfg.Protocol != "HTTP" || cfg.MaxRetries != 0 {
		t.Errorf("explicit protocol/max_retries ignored: %+v", cfg)
	}
	k := data.kubeConfig
	if k.Host != "https://10.0.0.1:6443" || k.ConfigPath != "" {
		t.Errorf("an explicit host must not be mixed with a kubeconfig from the environment: %+v", k)
	}
	if k.Insecure {
		t.Error("insecure = false in configuration must win over KUBE_INSECURE")
	}
	if data.namespace != "models" {
		t.Errorf("namespace: got %q", data.namespace)
	}
}

func TestProviderDataKubeConfigPathPrecedence(t *testing.T) {
	data := newProviderData(providerModel{}, envOf(map[string]string{
		"KUBE_CONFIG_PATH": "/from/kube-config-path",
		"KUBECONFIG":       "/from/kubeconfig",
	}))
	if data.kubeConfig.ConfigPath != "/from/kube-config-path" {
		t.Errorf("KUBE_CONFIG_PATH must win over KUBECONFIG, got %q", data.kubeConfig.ConfigPath)
	}
}

func TestProviderDataACKCluster(t *testing.T) {
	const id = "c1234567890abcdef1234567890abcdef"
	env := envOf(map[string]string{
		"ALIBABA_CLOUD_ACK_CLUSTER_ID": id,
		"ALIBABA_CLOUD_CS_ENDPOINT":    "127.0.0.1:9001",
		"KUBECONFIG":                   "/kube/config",
		"KUBE_TOKEN":                   "from-env",
	})
	data := newProviderData(providerModel{}, env)
	if data.ack.clusterID != id || data.ack.endpoint != "127.0.0.1:9001" {
		t.Errorf("ACK settings from the environment not used: %+v", data.ack)
	}
	if data.ack.private || data.ack.lifetime != time.Hour {
		t.Errorf("defaults: public endpoint and 60-minute credentials wanted, got %+v", data.ack)
	}
	if data.kubeConfig.ConfigPath != "" || data.kubeConfig.Token != "" {
		t.Errorf("with an ACK cluster, kubeconfig settings from the environment must be ignored: %+v", data.kubeConfig)
	}

	data = newProviderData(providerModel{Kubernetes: &kubernetesModel{ConfigPath: types.StringValue("/explicit")}}, env)
	if data.ack.clusterID != "" || data.kubeConfig.ConfigPath != "/explicit" {
		t.Errorf("config_path in the configuration must win over the ACK cluster from the environment: %+v %+v", data.ack, data.kubeConfig)
	}

	data = newProviderData(providerModel{Kubernetes: &kubernetesModel{
		ACKClusterID: types.StringValue("c0a1b2c3d4e5f60718293a4b5c6d7e8f9"), PrivateEndpoint: types.BoolValue(true),
		TemporaryDurationMinutes: types.Int64Value(15),
	}}, env)
	if data.ack.clusterID != "c0a1b2c3d4e5f60718293a4b5c6d7e8f9" || !data.ack.private || data.ack.lifetime != 15*time.Minute {
		t.Errorf("configured ACK settings not used: %+v", data.ack)
	}
}

func TestACKClusterIDFromTheEnvironmentIsValidated(t *testing.T) {
	data := newProviderData(providerModel{}, envOf(map[string]string{"ALIBABA_CLOUD_ACK_CLUSTER_ID": "my-cluster"}))
	_, err := data.Kube()
	if err == nil || !strings.Contains(err.Error(), `ALIBABA_CLOUD_ACK_CLUSTER_ID="my-cluster"`) {
		t.Errorf("want the malformed variable named with its value; got %v", err)
	}
}

func TestProviderDataUnknownACKCluster(t *testing.T) {
	data := newProviderData(providerModel{Kubernetes: &kubernetesModel{ACKClusterID: types.StringUnknown()}},
		envOf(map[string]string{"KUBECONFIG": "/kube/config"}))
	if data.kubeConfig.ConfigPath != "" {
		t.Errorf("an ack_cluster_id not known yet must not fall back to KUBECONFIG: %+v", data.kubeConfig)
	}
	if _, err := data.Kube(); err == nil || !regexp.MustCompile(`ack_cluster_id is not known yet`).MatchString(err.Error()) {
		t.Errorf("want an error saying ack_cluster_id is not known yet, got %v", err)
	}
}

func TestLazyClientsReportTheMissingSetting(t *testing.T) {
	data := newProviderData(providerModel{}, envOf(nil))
	if _, err := data.Kube(); err == nil || !regexp.MustCompile(`kubernetes\.config_path`).MatchString(err.Error()) {
		t.Errorf("kube client without configuration: want an error naming kubernetes.config_path, got %v", err)
	}
	data.asmConfig.Region = "cn-hangzhou"
	data.auth.SharedCredentialsFile = t.TempDir() + "/missing.json"
	if _, err := data.ASM(); err == nil || !regexp.MustCompile(`shared_credentials_file`).MatchString(err.Error()) {
		t.Errorf("ASM client with a missing profile file: want an error naming shared_credentials_file, got %v", err)
	}
}

func TestProviderDataCredentialKinds(t *testing.T) {
	rrsa := map[string]string{
		"ALIBABA_CLOUD_ROLE_ARN":          "acs:ram::1:role/pod",
		"ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1:oidc-provider/ack-rrsa",
		"ALIBABA_CLOUD_OIDC_TOKEN_FILE":   "/var/run/secrets/tokens/oidc-token",
		"ALIBABA_CLOUD_ECS_METADATA":      "node-role",
		"ALIBABA_CLOUD_CREDENTIALS_URI":   "http://127.0.0.1:8080/credentials",
		"ALIBABA_CLOUD_STS_ENDPOINT":      "sts-vpc.cn-hangzhou.aliyuncs.com",
	}
	auth := newProviderData(providerModel{}, envOf(rrsa)).auth
	if o := auth.OIDC; o == nil || o.RoleARN != rrsa["ALIBABA_CLOUD_ROLE_ARN"] || o.ProviderARN != rrsa["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] ||
		o.TokenFile != rrsa["ALIBABA_CLOUD_OIDC_TOKEN_FILE"] {
		t.Errorf("the variables RRSA injects must make an OIDC credential: %+v", o)
	}
	if auth.ECSRoleName != "node-role" || auth.CredentialsURI != rrsa["ALIBABA_CLOUD_CREDENTIALS_URI"] ||
		auth.STSEndpoint != rrsa["ALIBABA_CLOUD_STS_ENDPOINT"] {
		t.Errorf("environment fallbacks not used: %+v", auth)
	}

	delete(rrsa, "ALIBABA_CLOUD_OIDC_TOKEN_FILE")
	if o := newProviderData(providerModel{}, envOf(rrsa)).auth.OIDC; o != nil {
		t.Errorf("ALIBABA_CLOUD_ROLE_ARN without a token file is not an OIDC credential: %+v", o)
	}

	// A block in the configuration is used even when incomplete, so that Resolve names what is missing.
	o := newProviderData(providerModel{AssumeRoleWithOIDC: &oidcRoleModel{OIDCToken: types.StringValue("a.b.c")}}, envOf(rrsa)).auth.OIDC
	if o == nil || o.Token != "a.b.c" || o.TokenFile != "" || o.RoleARN != rrsa["ALIBABA_CLOUD_ROLE_ARN"] {
		t.Errorf("assume_role_with_oidc block: %+v", o)
	}
}

func TestProfileRegionIsTheFallbackRegion(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	profile := `{"current": "ci", "profiles": [{"name": "ci", "mode": "AK", "access_key_id": "ak", ` +
		`"access_key_secret": "sk", "region_id": "cn-shenzhen"}]}`
	if err := os.WriteFile(file, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	data := newProviderData(providerModel{SharedCredentialsFile: types.StringValue(file)}, envOf(nil))
	cfg, err := data.resolvedASMConfig()
	if err != nil || cfg.Region != "cn-shenzhen" {
		t.Fatalf("region %q (%v), want the profile's region_id", cfg.Region, err)
	}
	if _, err := data.ASM(); err != nil {
		t.Errorf("a profile with region_id and no region setting: %v", err)
	}
	data = newProviderData(providerModel{SharedCredentialsFile: types.StringValue(file)},
		envOf(map[string]string{"ALIBABA_CLOUD_REGION": "cn-beijing"}))
	if cfg, err := data.resolvedASMConfig(); err != nil || cfg.Region != "cn-beijing" {
		t.Errorf("region %q (%v): the environment must win over the profile", cfg.Region, err)
	}
}

func TestProviderConflictingSettingsRejectedAtValidate(t *testing.T) {
	cases := map[string]struct {
		block string
		want  string
	}{
		"config_path with host": {
			block: `kubernetes {
  config_path = "/tmp/kubeconfig"
  host        = "https://127.0.0.1:6443"
}`,
			want: `(?s)kubernetes.config_path.*kubernetes.host|kubernetes.host.*kubernetes.config_path`,
		},
		"token with client certificate": {
			block: `kubernetes {
  host               = "https://127.0.0.1:6443"
  token              = "abc"
  client_certificate = "-----BEGIN CERTIFICATE-----"
}`,
			want: `(?s)Invalid Attribute Combination.*token`,
		},
		"ack_cluster_id with config_path": {
			block: `kubernetes {
  ack_cluster_id = "c1234567890abcdef1234567890abcdef"
  config_path    = "/tmp/kubeconfig"
}`,
			want: `(?s)Invalid Attribute Combination.*kubernetes.ack_cluster_id`,
		},
		"ack_cluster_id with host and token": {
			block: `kubernetes {
  ack_cluster_id = "c1234567890abcdef1234567890abcdef"
  host           = "https://127.0.0.1:6443"
  token          = "abc"
}`,
			want: `(?s)kubernetes.ack_cluster_id.*kubernetes.host.*kubernetes.ack_cluster_id.*kubernetes.token|kubernetes.ack_cluster_id.*kubernetes.token.*kubernetes.ack_cluster_id.*kubernetes.host`,
		},
		"ack_cluster_id with a client certificate": {
			block: `kubernetes {
  ack_cluster_id     = "c1234567890abcdef1234567890abcdef"
  client_certificate = "-----BEGIN CERTIFICATE-----"
}`,
			want: `(?s)kubernetes.ack_cluster_id.*kubernetes.client_certificate|kubernetes.client_certificate.*kubernetes.ack_cluster_id`,
		},
		"malformed ack_cluster_id": {
			block: `kubernetes {
  ack_cluster_id = "my-cluster"
}`,
			want: `(?s)kubernetes.ack_cluster_id.*ACK cluster ID`,
		},
		"temporary_duration_minutes below ACK's minimum": {
			block: `kubernetes {
  ack_cluster_id             = "c1234567890abcdef1234567890abcdef"
  temporary_duration_minutes = 10
}`,
			want: `(?s)temporary_duration_minutes.*15`,
		},
		"oidc_token with oidc_token_file": {
			block: `assume_role_with_oidc {
  oidc_provider_arn = "acs:ram::1:oidc-provider/ci"
  role_arn          = "acs:ram::1:role/ci"
  oidc_token        = "a.b.c"
  oidc_token_file   = "/tmp/token"
}`,
			want: `(?s)assume_role_with_oidc.oidc_token.*assume_role_with_oidc.oidc_token_file|assume_role_with_oidc.oidc_token_file.*assume_role_with_oidc.oidc_token`,
		},
		"unknown protocol": {
			block: `protocol = "FTP"`,
			want:  `(?s)protocol.*HTTPS`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      "provider \"asm\" {\n" + tc.block + "\n}\n" + validateOnlyConfig,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}

// validateOnlyConfig gives Terraform something to plan so that it validates the provider block.
const validateOnlyConfig = `
data "asm_mesh" "probe" {
  mesh_id = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
}
`
