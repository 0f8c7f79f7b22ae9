package alicred_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/alicred"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

const (
	baseKey    = "LTAI5tAlicredBase"
	baseSecret = "alicred-base-secret"
	roleARN    = "acs:ram::1234567890123456:role/modelmesh-deployer"
	oidcARN    = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee"
)

// account is an Alibaba Cloud account's doubles: ASM, STS, instance metadata and a credentials URI,
// all accepting the same credentials.
type account struct {
	asm      *asmfake.Server
	sts      *asmfake.STS
	metadata *asmfake.Metadata
	uri      *asmfake.CredentialsURI
	meshID   string
}

func newAccount(t *testing.T) *account {
	t.Helper()
	a := &account{asm: asmfake.New(asmfake.Options{})}
	a.asm.AddCredential(asmfake.Credential{AccessKeyID: baseKey, AccessKeySecret: baseSecret})
	a.sts = asmfake.NewSTS(a.asm)
	a.metadata = asmfake.NewMetadata(a.asm, "ecs-runner")
	a.uri = asmfake.NewCredentialsURI(a.asm)
	for _, s := range []interface {
		Start() error
		Close() error
	}{a.asm, a.sts, a.metadata, a.uri} {
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	a.meshID = a.asm.AddMesh(asmfake.Mesh{}).ID
	return a
}

// config points every exchange at the account's doubles.
func (a *account) config() alicred.Config {
	return alicred.Config{STSEndpoint: a.sts.Endpoint(), MetadataProxy: a.metadata.ProxyURL(),
		SharedCredentialsFile: filepath.Join(os.TempDir(), "alicred-test-no-such-file.json")}
}

// describe calls ASM with the identity's credentials: the proof that they are the account's.
func (a *account) describe(t *testing.T, id *alicred.Identity) error {
	t.Helper()
	client, err := asm.NewClient(asm.Config{Region: "cn-hangzhou", Credentials: id.Credentials,
		Endpoint: a.asm.Endpoint(), Protocol: "HTTP", MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = client.DescribeMesh(ctx, a.meshID)
	return err
}

func resolve(t *testing.T, cfg alicred.Config) *alicred.Identity {
	t.Helper()
	id, err := cfg.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func credentialError(t *testing.T, err error) *alicred.Error {
	t.Helper()
	var e *alicred.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want an *alicred.Error", err, err)
	}
	return e
}

func TestEveryCredentialKindReachesASM(t *testing.T) {
	a := newAccount(t)
	a.sts.AddRole(asmfake.STSRole{ARN: roleARN, OIDCProviderARN: oidcARN})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(a.sts.IssueOIDCToken(time.Now().Add(time.Hour))), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		cfg    func(alicred.Config) alicred.Config
		action string // the exchange that must have happened
	}{
		"access key": {cfg: func(c alicred.Config) alicred.Config {
			c.AccessKey, c.SecretKey = baseKey, baseSecret
			return c
		}},
		"assume_role on an access key": {action: asmfake.ActionAssumeRole, cfg: func(c alicred.Config) alicred.Config {
			c.AccessKey, c.SecretKey = baseKey, baseSecret
			c.AssumeRole = &alicred.AssumeRole{RoleARN: roleARN}
			return c
		}},
		"assume_role_with_oidc": {action: asmfake.ActionAssumeRoleWithOIDC, cfg: func(c alicred.Config) alicred.Config {
			c.OIDC = &alicred.OIDCRole{ProviderARN: oidcARN, RoleARN: roleARN, TokenFile: tokenFile}
			return c
		}},
		"ecs_role_name": {action: asmfake.ActionMetadataCredentials, cfg: func(c alicred.Config) alicred.Config {
			c.ECSRoleName = "ecs-runner"
			return c
		}},
		"credentials_uri": {action: asmfake.ActionCredentialsURI, cfg: func(c alicred.Config) alicred.Config {
			c.CredentialsURI = a.uri.URL()
			return c
		}},
		"assume_role on instance metadata": {action: asmfake.ActionAssumeRole, cfg: func(c alicred.Config) alicred.Config {
			c.ECSRoleName = "ecs-runner"
			c.AssumeRole = &alicred.AssumeRole{RoleARN: roleARN}
			return c
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := a.asm.CountRequests(tc.action)
			if err := a.describe(t, resolve(t, tc.cfg(a.config()))); err != nil {
				t.Fatal(err)
			}
			if tc.action != "" && a.asm.CountRequests(tc.action) == before {
				t.Errorf("no %s call: the credential did not come from its exchange", tc.action)
			}
		})
	}
}

func TestInstanceMetadataIsAskedForATokenFirst(t *testing.T) {
	a := newAccount(t)
	a.metadata.HardenedOnly = true
	cfg := a.config()
	cfg.ECSRoleName = "ecs-runner"
	if err := a.describe(t, resolve(t, cfg)); err != nil {
		t.Fatalf("an instance that enforces security-hardened mode: %v", err)
	}
	requests := a.asm.Requests()
	if len(requests) == 0 || requests[0].Action != asmfake.ActionMetadataToken {
		t.Errorf("first request %+v, want the metadata token (IMDSv2)", requests)
	}
}

// TestTemporaryCredentialsAreRenewedBeforeExpiry: STS credentials that enter the library's renewal
// margin (180 s before expiry) after two seconds are replaced, and every call succeeds meanwhile.
func TestTemporaryCredentialsAreRenewedBeforeExpiry(t *testing.T) {
	a := newAccount(t)
	a.sts.AddRole(asmfake.STSRole{ARN: roleARN, CredentialLifetime: 182 * time.Second})
	cfg := a.config()
	cfg.AccessKey, cfg.SecretKey = baseKey, baseSecret
	cfg.AssumeRole = &alicred.AssumeRole{RoleARN: roleARN}
	id := resolve(t, cfg)
	keys := map[string]bool{}
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err := a.describe(t, id); err != nil {
			t.Fatal(err)
		}
		for _, r := range a.asm.Requests() {
			if r.Action == "DescribeServiceMeshDetail" {
				keys[r.Params["AccessKeyId"]] = true
			}
		}
	}
	if len(keys) < 2 {
		t.Errorf("ASM saw %d STS credential(s) over 4 s, want a renewed one", len(keys))
	}
}

func TestCredentialFailuresNameWhatFailed(t *testing.T) {
	a := newAccount(t)
	a.sts.AddRole(asmfake.STSRole{ARN: roleARN, Denied: true, OIDCProviderARN: oidcARN})
	expired := filepath.Join(t.TempDir(), "expired-token")
	if err := os.WriteFile(expired, []byte(a.sts.IssueOIDCToken(time.Now().Add(-time.Minute))), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		cfg  func(alicred.Config) alicred.Config
		code string
		want []string
	}{
		"assume_role refused": {code: "NoPermission", want: []string{roleARN, "assume_role", "sts:AssumeRole"},
			cfg: func(c alicred.Config) alicred.Config {
				c.AccessKey, c.SecretKey = baseKey, baseSecret
				c.AssumeRole = &alicred.AssumeRole{RoleARN: roleARN}
				return c
			}},
		"wrong base secret": {code: "SignatureDoesNotMatch", want: []string{"check access_key and secret_key"},
			cfg: func(c alicred.Config) alicred.Config {
				c.AccessKey, c.SecretKey = baseKey, "not-the-secret"
				c.AssumeRole = &alicred.AssumeRole{RoleARN: roleARN}
				return c
			}},
		"no such role": {code: "EntityNotExist.Role", want: []string{"acs:ram::1234567890123456:role/typo", "check role_arn"},
			cfg: func(c alicred.Config) alicred.Config {
				c.AccessKey, c.SecretKey = baseKey, baseSecret
				c.AssumeRole = &alicred.AssumeRole{RoleARN: "acs:ram::1234567890123456:role/typo"}
				return c
			}},
		"expired OIDC token": {code: "AuthenticationFail.OIDCToken.Expired", want: []string{expired, oidcARN, "oidc_token_file"},
			cfg: func(c alicred.Config) alicred.Config {
				c.OIDC = &alicred.OIDCRole{ProviderARN: oidcARN, RoleARN: roleARN, TokenFile: expired}
				return c
			}},
		"malformed OIDC token": {code: "AuthenticationFail.OIDCToken.Invalid", want: []string{"assume_role_with_oidc"},
			cfg: func(c alicred.Config) alicred.Config {
				c.OIDC = &alicred.OIDCRole{ProviderARN: oidcARN, RoleARN: roleARN, Token: "not-a-jwt"}
				return c
			}},
		"unregistered OIDC provider": {code: "AuthenticationFail.NoPermission", want: []string{"oidc_provider_arn"},
			cfg: func(c alicred.Config) alicred.Config {
				c.OIDC = &alicred.OIDCRole{ProviderARN: oidcARN + "-other", RoleARN: roleARN, Token: a.sts.IssueOIDCToken(time.Now().Add(time.Hour))}
				return c
			}},
		"OIDC token file missing": {want: []string{"/nonexistent/token", "token file"},
			cfg: func(c alicred.Config) alicred.Config {
				c.OIDC = &alicred.OIDCRole{ProviderARN: oidcARN, RoleARN: roleARN, TokenFile: "/nonexistent/token"}
				return c
			}},
		"role not attached to the instance": {want: []string{"ecs_role_name", "other-role", "100.100.100.200"},
			cfg: func(c alicred.Config) alicred.Config {
				c.ECSRoleName = "other-role"
				return c
			}},
		"credentials URI unreachable": {want: []string{"credentials_uri", "http://127.0.0.1:1/credentials"},
			cfg: func(c alicred.Config) alicred.Config {
				c.CredentialsURI = "http://127.0.0.1:1/credentials"
				return c
			}},
		"metadata unreachable": {want: []string{"ecs_role_name", "ecs-runner", "100.100.100.200"},
			cfg: func(c alicred.Config) alicred.Config {
				c.ECSRoleName, c.MetadataProxy = "ecs-runner", "http://127.0.0.1:1"
				return c
			}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := a.describe(t, resolve(t, tc.cfg(a.config())))
			e := credentialError(t, err)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q: %v", e.Code, tc.code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "servicemesh:") || asm.IsPermissionDenied(err) || asm.IsRetryable(err) {
				t.Errorf("a credential failure reported as an ASM permission or a retryable failure: %v", err)
			}
		})
	}
	if n := a.asm.CountRequests("DescribeServiceMeshDetail"); n != 0 {
		t.Errorf("%d ASM calls sent without credentials", n)
	}
}

func TestCredentialsURIFailure(t *testing.T) {
	a := newAccount(t)
	a.asm.InjectFault(asmfake.ActionCredentialsURI, asmfake.Fault{Code: asmfake.CodeInternalError, Times: 1})
	cfg := a.config()
	cfg.CredentialsURI = a.uri.URL()
	err := a.describe(t, resolve(t, cfg))
	if e := credentialError(t, err); !strings.Contains(e.Error(), a.uri.URL()) || !strings.Contains(e.Error(), "credentials_uri") {
		t.Errorf("want an error naming credentials_uri and its URL: %v", err)
	}
}

// writeProfiles writes an aliyun CLI config.json with the given profiles, the first one current.
func writeProfiles(t *testing.T, profiles ...map[string]any) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"current": profiles[0]["name"], "profiles": profiles})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEveryCLIProfileMode(t *testing.T) {
	a := newAccount(t)
	a.sts.AddRole(asmfake.STSRole{ARN: roleARN, OIDCProviderARN: oidcARN})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(a.sts.IssueOIDCToken(time.Now().Add(time.Hour))), 0o600); err != nil {
		t.Fatal(err)
	}
	sts, err := resolve(t, alicred.Config{AccessKey: baseKey, SecretKey: baseSecret, STSEndpoint: a.sts.Endpoint(),
		AssumeRole: &alicred.AssumeRole{RoleARN: roleARN}}).Credentials.GetCredentials()
	if err != nil {
		t.Fatal(err)
	}
	ak := map[string]any{"name": "ak", "mode": "AK", "access_key_id": baseKey, "access_key_secret": baseSecret, "region_id": "cn-shanghai"}
	profiles := map[string][]map[string]any{
		"AK": {ak},
		"StsToken": {{"name": "sts", "mode": "StsToken", "access_key_id": sts.AccessKeyId,
			"access_key_secret": sts.AccessKeySecret, "sts_token": sts.SecurityToken, "region_id": "cn-shanghai"}},
		"RamRoleArn": {{"name": "role", "mode": "RamRoleArn", "access_key_id": baseKey, "access_key_secret": baseSecret,
			"ram_role_arn": roleARN, "ram_session_name": "ci", "region_id": "cn-shanghai"}},
		"ChainableRamRoleArn": {{"name": "chained", "mode": "ChainableRamRoleArn", "source_profile": "ak",
			"ram_role_arn": roleARN, "region_id": "cn-shanghai"}, ak},
		"EcsRamRole": {{"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "ecs-runner", "region_id": "cn-shanghai"}},
		"OIDC": {{"name": "oidc", "mode": "OIDC", "oidc_provider_arn": oidcARN, "ram_role_arn": roleARN,
			"oidc_token_file": tokenFile, "region_id": "cn-shanghai"}},
	}
	for mode, p := range profiles {
		t.Run(mode, func(t *testing.T) {
			cfg := a.config()
			cfg.SharedCredentialsFile = writeProfiles(t, p...)
			id := resolve(t, cfg)
			if id.ProfileRegion != "cn-shanghai" {
				t.Errorf("profile region %q, want the profile's region_id", id.ProfileRegion)
			}
			if err := a.describe(t, id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCLIProfileModesRefusedOrReported(t *testing.T) {
	a := newAccount(t)
	cfg := a.config()
	cfg.SharedCredentialsFile = writeProfiles(t, map[string]any{"name": "odd", "mode": "Bogus"})
	if _, err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), `mode "Bogus"`) ||
		!strings.Contains(err.Error(), `profile "odd"`) {
		t.Errorf("want the unusable mode refused, naming it and the profile; got %v", err)
	}

	cfg.SharedCredentialsFile = writeProfiles(t, map[string]any{"name": "loop", "mode": "ChainableRamRoleArn",
		"source_profile": "loop", "ram_role_arn": roleARN})
	if _, err := cfg.Resolve(); err == nil || !strings.Contains(err.Error(), "comes back to it") {
		t.Errorf("want a source_profile cycle refused; got %v", err)
	}

	// CloudSSO is signed in by the library itself; a profile without a current sign-in says so at
	// the first call, naming the profile and the mode.
	cfg.SharedCredentialsFile = writeProfiles(t, map[string]any{"name": "sso", "mode": "CloudSSO",
		"cloud_sso_sign_in_url": "http://127.0.0.1:1/sso", "cloud_sso_account_id": "1234567890123456",
		"cloud_sso_access_config": "ac-modelmesh"})
	err := a.describe(t, resolve(t, cfg))
	if e := credentialError(t, err); !strings.Contains(e.Error(), `profile "sso"`) || !strings.Contains(e.Error(), "CloudSSO") {
		t.Errorf("want an error naming the profile and its mode; got %v", err)
	}
}
