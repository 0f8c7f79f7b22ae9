package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
)

const (
	credRoleARN = "acs:ram::1234567890123456:role/modelmesh-deployer"
	credOIDCARN = "acs:ram::1234567890123456:oidc-provider/ci"
	// renewedSoon is the life of the STS and URI credentials of the kind tests: the library renews
	// a credential 180 s before it expires (credentials-go, providers/ram_role_arn.go, oidc.go,
	// uri.go: needUpdateCredential), so these are due for renewal 3 s after they are issued.
	renewedSoon = 183 * time.Second
	// regionSetting is the region line of every provider block but the CLI profile's.
	regionSetting = "  region = \"" + localstack.Region + "\"\n"
)

// accountFactories serves a provider whose instance metadata requests go to the account's double
// (the provider's test hook: credentials-go cannot be pointed elsewhere than 100.100.100.200).
func accountFactories(a *acctest.Account) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"asm": planfast.NewProtocol6(func() provider.Provider {
			return &asmProvider{version: "test", metadataProxy: a.Metadata.ProxyURL()}
		}),
	}
}

// accessKeySettings authenticates with the fixture's access key, which every account accepts.
func accessKeySettings() string {
	return fmt.Sprintf("  access_key = %q\n  secret_key = %q\n", localstack.AccessKeyID, localstack.AccessKeySecret)
}

func oidcSettings(tokenFile string) string {
	return fmt.Sprintf("  assume_role_with_oidc {\n    oidc_provider_arn = %q\n    role_arn          = %q\n    oidc_token_file   = %q\n  }\n",
		credOIDCARN, credRoleARN, tokenFile)
}

// replaceFile replaces path's content in one step, as the kubelet's atomic writer updates a
// projected token: a reader sees the old token or the new one, never a partial one.
func replaceFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// rotateOIDCToken keeps a token file holding a token of the account's identity provider, replaced
// every period by one valid for two periods, until the test ends: RRSA's projected token is
// replaced ahead of its expiry in the same way. An exchange that does not read the file again
// presents an expired token before long.
func rotateOIDCToken(t *testing.T, sts *asmfake.STS, period time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oidc-token")
	if err := replaceFile(path, sts.IssueOIDCToken(time.Now().Add(2*period))); err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		ticker := time.NewTicker(period)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				if err := replaceFile(path, sts.IssueOIDCToken(time.Now().Add(2*period))); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
	})
	return path
}

// credentialKind is one way of authenticating to an account.
type credentialKind struct {
	// setup prepares the account and returns the provider settings.
	setup func(t *testing.T, a *acctest.Account) string
	// issuer is the double the credentials come from.
	issuer func(a *acctest.Account) interface{ Issued() []asmfake.Credential }
	// check, if set, proves something more about the exchanges.
	check func(a *acctest.Account) error
}

func viaSTS(a *acctest.Account) interface{ Issued() []asmfake.Credential } { return a.STS }

var credentialKinds = map[string]credentialKind{
	"access_key+assume_role": {
		issuer: viaSTS,
		setup: func(_ *testing.T, a *acctest.Account) string {
			a.STS.AddRole(asmfake.STSRole{ARN: credRoleARN, CredentialLifetime: renewedSoon})
			return regionSetting + accessKeySettings() + fmt.Sprintf("  assume_role {\n    role_arn = %q\n  }\n", credRoleARN)
		},
	},
	"assume_role_with_oidc": {
		issuer: viaSTS,
		setup: func(t *testing.T, a *acctest.Account) string {
			a.STS.AddRole(asmfake.STSRole{ARN: credRoleARN, OIDCProviderARN: credOIDCARN, CredentialLifetime: renewedSoon})
			return regionSetting + oidcSettings(rotateOIDCToken(t, a.STS, 2*time.Second))
		},
		check: func(a *acctest.Account) error {
			tokens := map[string]bool{}
			for _, r := range a.ASM.Requests() {
				if r.Action == asmfake.ActionAssumeRoleWithOIDC && r.Status == 200 {
					tokens[r.Params["OIDCToken"]] = true
				}
			}
			if len(tokens) < 2 {
				return fmt.Errorf("STS was shown %d OIDC token(s): the rotated token file was not read again", len(tokens))
			}
			return nil
		},
	},
	"credentials_uri": {
		issuer: func(a *acctest.Account) interface{ Issued() []asmfake.Credential } { return a.URI },
		setup: func(_ *testing.T, a *acctest.Account) string {
			a.URI.CredentialLifetime = renewedSoon
			return regionSetting + fmt.Sprintf("  credentials_uri = %q\n", a.URI.URL())
		},
	},
	"ecs_role_name": {
		issuer: func(a *acctest.Account) interface{ Issued() []asmfake.Credential } { return a.Metadata },
		setup: func(_ *testing.T, a *acctest.Account) string {
			// The instance replaces a credential at half its life: short enough for a new one, and
			// the first one's expiry, within the wait.
			a.Metadata.CredentialLifetime = 8 * time.Second
			return regionSetting + fmt.Sprintf("  ecs_role_name = %q\n", acctest.ECSRoleName)
		},
	},
	// The region comes from the profile's region_id.
	"profile ChainableRamRoleArn": {
		issuer: viaSTS,
		setup: func(t *testing.T, a *acctest.Account) string {
			a.STS.AddRole(asmfake.STSRole{ARN: credRoleARN, CredentialLifetime: renewedSoon})
			file := writeCLIProfiles(t,
				map[string]any{"name": "deployer", "mode": "ChainableRamRoleArn", "source_profile": "base",
					"ram_role_arn": credRoleARN, "region_id": localstack.Region},
				map[string]any{"name": "base", "mode": "AK", "access_key_id": localstack.AccessKeyID,
					"access_key_secret": localstack.AccessKeySecret, "region_id": "cn-beijing"})
			return fmt.Sprintf("  shared_credentials_file = %q\n  profile                 = \"deployer\"\n", file)
		},
	},
}

// writeCLIProfiles writes an aliyun CLI config.json holding profiles, the last one current.
func writeCLIProfiles(t *testing.T, profiles ...map[string]any) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"current": profiles[len(profiles)-1]["name"], "profiles": profiles})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkIssuedCredentialsUsed proves the wait outlived a credential: the double issued at least two,
// ACK's kubeconfigs (renewed throughout the wait) were fetched with at least two of them, and
// every signed ASM call used one of them.
func checkIssuedCredentialsUsed(a *acctest.Account, kind credentialKind) resource.TestCheckFunc {
	return func(*terraform.State) error {
		issued := map[string]bool{}
		for _, c := range kind.issuer(a).Issued() {
			issued[c.AccessKeyID] = true
		}
		if len(issued) < 2 {
			return fmt.Errorf("%d credential(s) issued: none was renewed during the apply", len(issued))
		}
		ackKeys := map[string]bool{}
		for _, k := range a.ACK.Issued() {
			if !issued[k.AccessKeyID] {
				return fmt.Errorf("ACK was called with %s, not a credential the double issued", k.AccessKeyID)
			}
			ackKeys[k.AccessKeyID] = true
		}
		if len(ackKeys) < 2 {
			return fmt.Errorf("kubeconfigs were fetched with %d credential(s), want a renewed one used during the wait", len(ackKeys))
		}
		signed := 0
		for _, r := range a.ASM.Requests() {
			// AssumeRole is signed with the base credential.
			if key := r.Params["AccessKeyId"]; key != "" && r.Action != asmfake.ActionAssumeRole {
				if !issued[key] {
					return fmt.Errorf("ASM %s was signed with %s, not a credential the double issued", r.Action, key)
				}
				signed++
			}
		}
		if signed == 0 {
			return errors.New("no signed ASM call was recorded")
		}
		if kind.check != nil {
			return kind.check(a)
		}
		return nil
	}
}

// TestAccCredentials_kinds applies, with each kind of credential, a cluster attachment (ASM) and a
// runtime and a model on the cluster, reached through an ACK kubeconfig. The model takes
// model-mesh's slow load (15 s) to become READY; the Alibaba Cloud credential is renewed during
// that wait (the double issues short-lived ones), and so is the kubeconfig (4 s), which is fetched
// with the renewed credential. All kinds share one cluster of the test's own, whose loads are slow.
func TestAccCredentials_kinds(t *testing.T) {
	acctest.PreCheck(t)
	acctest.SkipWithoutFake(t)
	modelMesh := acctest.ModelMeshOptions()
	modelMesh.SlowLoadDelay = 15 * time.Second
	local := acctest.DedicatedCluster(t, modelMesh)
	for name, kind := range credentialKinds {
		t.Run(name, func(t *testing.T) {
			a := acctest.NewAccount(t)
			a.ServeCluster(t, local.Cluster, 4*time.Second)
			namespace := acctest.RandomName("cred")
			if err := local.Cluster.CreateNamespace(t.Context(), namespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
				t.Fatal(err)
			}
			if err := acctest.CreateStorage(t.Context(), kubernetes.NewForConfigOrDie(local.Cluster.RESTConfig()), namespace); err != nil {
				t.Fatal(err)
			}
			stack := faultStack{cluster: local.Cluster, namespace: namespace}
			config := stack.config(a.ProviderConfig(kind.setup(t, a)), "slow/model.joblib") + attachmentBlock(a.MeshID, a.ClusterID, "")
			resource.ParallelTest(t, resource.TestCase{
				PreCheck:                 func() { acctest.PreCheck(t) },
				ProtoV6ProviderFactories: accountFactories(a),
				CheckDestroy:             resource.ComposeTestCheckFunc(stack.checkGone(t), checkAccountMeshEmpty(a)),
				Steps: []resource.TestStep{{
					Config: config,
					ConfigStateChecks: []statecheck.StateCheck{
						statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
						statecheck.ExpectKnownValue("asm_inference_service.test", tfjsonpath.New("ready"), knownvalue.Bool(true)),
					},
					Check: checkIssuedCredentialsUsed(a, kind),
				}},
			})
		})
	}
}

// checkAccountMeshEmpty asks the account's ASM that no cluster is left in its mesh.
func checkAccountMeshEmpty(a *acctest.Account) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if left := a.ASM.ClustersInMesh(a.MeshID); len(left) != 0 {
			return fmt.Errorf("clusters left in mesh %s after destroy: %+v", a.MeshID, left)
		}
		return nil
	}
}

// testCredentialFailure applies, with a credential that cannot be obtained, a cluster attachment
// (the ASM path) and then a runtime on the account's ACK cluster (the ACK path). Each must fail
// with a diagnostic matching want, which says what failed and why, after exactly the exchange calls
// in perPath: the failure is neither retried as an unreachable service nor reported as a missing
// servicemesh: or cs: permission, and nothing reaches ASM or ACK.
func testCredentialFailure(t *testing.T, a *acctest.Account, settings string, perPath map[string]int, want string) {
	t.Helper()
	provider := a.ProviderConfig(settings)
	checkExchanges := func(paths int) error {
		counts := map[string]int{}
		for _, r := range a.ASM.Requests() {
			counts[r.Action]++
		}
		for action, n := range perPath {
			if counts[action] != paths*n {
				return fmt.Errorf("%d %s call(s) after %d path(s), want %d each: %v", counts[action], action, paths, n, counts)
			}
			delete(counts, action)
		}
		if len(counts) != 0 {
			return fmt.Errorf("calls beyond the credential exchange: %v", counts)
		}
		return nil
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: accountFactories(a),
		Steps: []resource.TestStep{
			{
				Config: provider + attachmentBlock(a.MeshID, a.ClusterID, ""),
				ExpectError: errorPattern(`Adding cluster ` + a.ClusterID + ` to mesh ` + a.MeshID + ` failed .*` +
					`ASM DescribeServiceMeshDetail was not sent: ` + want + `.*Nothing was sent to ASM: fix what the credential failure above names`),
			},
			{
				PreConfig: func() {
					if err := checkExchanges(1); err != nil {
						t.Error("ASM path: ", err)
					}
				},
				Config: provider + acctest.Runtime{Name: "mlserver-unreached", Namespace: "default"}.HCL(),
				ExpectError: errorPattern(`Kubernetes cluster not reachable with the provider configuration .*fetching a kubeconfig ` +
					`for ACK cluster ` + a.ClusterID + `: ` + want),
			},
		},
	})
	if err := checkExchanges(2); err != nil {
		t.Error("ACK path: ", err)
	}
}

// TestAccCredentials_stsRefusal: STS refuses AssumeRole (NoPermission). Before, the ACK path said
// to grant cs:DescribeClusterUserKubeconfig and asked STS three times.
func TestAccCredentials_stsRefusal(t *testing.T) {
	a := acctest.NewAccount(t)
	a.STS.AddRole(asmfake.STSRole{ARN: credRoleARN, Denied: true})
	testCredentialFailure(t, a,
		regionSetting+accessKeySettings()+fmt.Sprintf("  assume_role {\n    role_arn = %q\n  }\n", credRoleARN),
		map[string]int{asmfake.ActionAssumeRole: 1},
		`obtaining Alibaba Cloud credentials failed while assuming RAM role `+regexp.QuoteMeta(credRoleARN)+
			` \(assume_role\) with AssumeRole: NoPermission: You are not authorized to do this action.*`+
			`The base credential may not assume RAM role `+regexp.QuoteMeta(credRoleARN)+`.*sts:AssumeRole`)
}

// oidcFailure is testCredentialFailure with an OIDC token file holding token.
func oidcFailure(t *testing.T, a *acctest.Account, token, want string) {
	t.Helper()
	a.STS.AddRole(asmfake.STSRole{ARN: credRoleARN, OIDCProviderARN: credOIDCARN})
	file := filepath.Join(t.TempDir(), "oidc-token")
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	testCredentialFailure(t, a, regionSetting+oidcSettings(file), map[string]int{asmfake.ActionAssumeRoleWithOIDC: 1},
		`obtaining Alibaba Cloud credentials failed while assuming RAM role `+regexp.QuoteMeta(credRoleARN)+
			` with an OIDC token \(assume_role_with_oidc, identity provider `+regexp.QuoteMeta(credOIDCARN)+
			`, token file `+regexp.QuoteMeta(file)+`\): `+want+`.*STS refused the OIDC token`)
}

// TestAccCredentials_badOIDCToken: the token file holds a token the identity provider did not
// sign.
func TestAccCredentials_badOIDCToken(t *testing.T) {
	a := acctest.NewAccount(t)
	oidcFailure(t, a, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmb3JnZWQifQ.Zm9yZ2Vk",
		`AuthenticationFail.OIDCToken.InvalidSignature: OIDC token validate failed: invalid signature`)
}

// TestAccCredentials_expiredOIDCToken: the token file was not rotated and its token has expired
// (TestAccCredentials_kinds/assume_role_with_oidc shows a rotated file being read again).
func TestAccCredentials_expiredOIDCToken(t *testing.T) {
	a := acctest.NewAccount(t)
	oidcFailure(t, a, a.STS.IssueOIDCToken(time.Now().Add(-time.Minute)),
		`AuthenticationFail.OIDCToken.Expired: This JsonWebToken is expired`)
}

// TestAccCredentials_metadataUnreachable: every connection to the instance metadata service closes
// without an answer. The library asks for an IMDSv2 token, then falls back to a request without
// one (credentials-go, providers/ecs_ram_role.go): one of each per attempt.
func TestAccCredentials_metadataUnreachable(t *testing.T) {
	a := acctest.NewAccount(t)
	a.ASM.InjectFault(asmfake.ActionMetadataToken, asmfake.Fault{LoseAnswer: true})
	a.ASM.InjectFault(asmfake.ActionMetadataCredentials, asmfake.Fault{LoseAnswer: true})
	testCredentialFailure(t, a, regionSetting+fmt.Sprintf("  ecs_role_name = %q\n", acctest.ECSRoleName),
		map[string]int{asmfake.ActionMetadataToken: 1, asmfake.ActionMetadataCredentials: 1},
		`obtaining Alibaba Cloud credentials failed while reading the credentials of ECS instance RAM role `+
			acctest.ECSRoleName+` \(ecs_role_name\) from instance metadata: .*EOF.*`+
			`ecs_role_name only works on an ECS instance .*can reach 100\.100\.100\.200`)
}

// TestAccCredentials_credentialsURIDown: the credentials URI answers 503.
func TestAccCredentials_credentialsURIDown(t *testing.T) {
	a := acctest.NewAccount(t)
	a.ASM.InjectFault(asmfake.ActionCredentialsURI, asmfake.Fault{Code: asmfake.CodeServiceUnavailable})
	testCredentialFailure(t, a, regionSetting+fmt.Sprintf("  credentials_uri = %q\n", a.URI.URL()),
		map[string]int{asmfake.ActionCredentialsURI: 1},
		`obtaining Alibaba Cloud credentials failed while fetching credentials from credentials_uri `+
			regexp.QuoteMeta(a.URI.URL())+`: get credentials from GET `+regexp.QuoteMeta(a.URI.URL())+` failed: .*ServiceUnavailable.*`+
			`The credentials URI must answer HTTP 200`)
}
