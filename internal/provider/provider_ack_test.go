package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

const kubeconfigAction = "DescribeClusterUserKubeconfig"

// quickstartConfig is examples/quickstart/main.tf for acctest.NewTerraformCLI, which writes its own
// required_providers block; the module it uses is referred to by absolute path, since the
// configuration runs in a folder of its own.
func quickstartConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../examples/quickstart/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	modules, err := filepath.Abs("../../examples/modules")
	if err != nil {
		t.Fatal(err)
	}
	config := regexp.MustCompile(`(?s)^.*?\nterraform \{.*?\n\}\n`).ReplaceAllString(string(raw), "")
	config = strings.ReplaceAll(config, `"../modules/`, `"`+modules+"/")
	if !strings.Contains(config, "ack_cluster_id = var.cluster_id") || strings.Contains(config, "required_providers") {
		t.Fatalf("the quickstart no longer reaches its cluster by ack_cluster_id alone, or its terraform block was not removed:\n%s", config)
	}
	return config
}

// TestAccProvider_ackQuickstart runs the quickstart as a user would, with Alibaba Cloud credentials
// in the environment and the two IDs as variables: nothing about Kubernetes. validate and a plan
// that only creates never ask ACK for a kubeconfig; the apply does, once, and the models are READY.
func TestAccProvider_ackQuickstart(t *testing.T) {
	acctest.PreCheck(t)
	meshID, clusterID := acctest.MeshID(), acctest.ClusterID(t)
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)
	for k, v := range acctest.ACKEnv(ack) {
		t.Setenv(k, v)
	}
	fake := acctest.ASMFake()
	cli := acctest.NewTerraformCLI(t, func() tfprotov6.ProviderServer { return providerserver.NewProtocol6(New("test")())() },
		quickstartConfig(t))
	vars := []string{"-input=false", "-no-color", "-var", "mesh_id=" + meshID, "-var", "cluster_id=" + clusterID}
	run := func(args ...string) string {
		t.Helper()
		out, err := cli.Run(append(args, vars...)...)
		if err != nil {
			t.Fatalf("terraform %s: %v\n%s", args[0], err, out)
		}
		return out
	}

	if out, err := cli.Run("validate", "-no-color"); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	run("plan")
	if n := fake.CountRequests(kubeconfigAction); n != 0 {
		t.Fatalf("validate and a create-only plan asked ACK for a kubeconfig %d times", n)
	}

	t.Cleanup(func() {
		if out, err := cli.Run(append([]string{"destroy", "-auto-approve"}, vars...)...); err != nil {
			t.Errorf("destroy: %v\n%s", err, out)
		}
	})
	run("apply", "-auto-approve")
	if out, err := cli.Run("output", "-raw", "my_model_sample_ready"); err != nil || !strings.HasSuffix(out, "true") {
		t.Errorf("my_model_sample_ready: %v %q, want true", err, out)
	}
	issued := ack.Issued()
	if len(issued) != 1 || issued[0].AccessKeyID != localstack.AccessKeyID || issued[0].ClusterID != clusterID || issued[0].Private {
		t.Errorf("want one public-endpoint kubeconfig for %s fetched with the provider's access key, got %+v", clusterID, issued)
	}
	model := kube.Ref{Kind: kube.InferenceService, Namespace: testcluster.ServingNamespace, Name: "my-model-sample"}
	if _, err := acctest.Kube(t).Get(context.Background(), model); err != nil {
		t.Errorf("the quickstart's model is not on the cluster: %v", err)
	}

	// A second plan is empty (exit code 0 with -detailed-exitcode).
	if out, err := cli.Run(append([]string{"plan", "-detailed-exitcode"}, vars...)...); err != nil {
		t.Errorf("the plan after apply is not empty: %v\n%s", err, out)
	}
}

// ackModelsConfig is a runtime, a model whose load takes model-mesh's SlowLoadDelay, and a
// second model created only once the first is READY.
func ackModelsConfig(providerBlock, namespace string) string {
	return providerBlock + fmt.Sprintf(`
resource "asm_serving_runtime" "test" {
  name                    = "mlserver-ack"
  namespace               = %[1]q
  supported_model_formats = [{ name = "sklearn", version = "0", auto_select = true }]
  mlserver                = { image = "seldonio/mlserver:1.3.2" }
}

resource "asm_inference_service" "slow" {
  name      = "slow"
  namespace = %[1]q
  runtime   = asm_serving_runtime.test.name
  model_format {
    name = "sklearn"
  }
  storage {
    key  = "localMinIO"
    path = "slow/model.joblib"
  }
}

resource "asm_inference_service" "after" {
  name      = "after"
  namespace = %[1]q
  runtime   = asm_serving_runtime.test.name
  model_format {
    name = "sklearn"
  }
  storage {
    key  = "localMinIO"
    path = "sklearn/model.joblib"
  }
  depends_on = [asm_inference_service.slow]
}
`, namespace)
}

// TestAccProvider_ackCredentialRenewedDuringWait: each kubeconfig ACK hands out here lives 4 s, and
// the first model takes model-mesh's slow load (15 s) to become READY. The credential the apply
// started with expires during that wait; the wait goes on, and what follows it (the second model,
// the refresh) gets a renewed credential. The apiserver refuses expired tokens (see
// TestAccKubeFaults_rejectedToken), so success means none was sent.
func TestAccProvider_ackCredentialRenewedDuringWait(t *testing.T) {
	acctest.PreCheck(t)
	modelMesh := acctest.ModelMeshOptions()
	modelMesh.SlowLoadDelay = 15 * time.Second
	local := acctest.DedicatedCluster(t, modelMesh)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, local.Cluster, clusterID, 4*time.Second)
	config := ackModelsConfig(acctest.ProviderConfigACK(ack, clusterID, ""), testcluster.ServingNamespace)
	ready := func(addr string) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(addr, tfjsonpath.New("ready"), knownvalue.Bool(true))
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:            config,
				ConfigStateChecks: []statecheck.StateCheck{ready("asm_inference_service.slow"), ready("asm_inference_service.after")},
				Check: func(*terraform.State) error {
					issued := ack.Issued()
					if len(issued) < 2 {
						return fmt.Errorf("%d kubeconfig(s) fetched: the credential was never renewed", len(issued))
					}
					if !time.Now().After(issued[0].Expiration) {
						return fmt.Errorf("the first credential (until %s) had not expired when the apply ended: the test proved nothing", issued[0].Expiration)
					}
					return nil
				},
			},
		},
	})
}

// TestAccProvider_ackClusterIDKnownOnlyAtApply: the cluster ID comes from a resource created in the
// same apply (as a new ACK cluster's would), so it is unknown while planning. The plan, which only
// creates, works; the apply reaches the cluster once the ID is known.
func TestAccProvider_ackClusterIDKnownOnlyAtApply(t *testing.T) {
	acctest.PreCheck(t)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)
	namespace := acctest.CreateNamespace(t, "ackunk")
	provider := strings.Replace(acctest.ProviderConfigACK(ack, clusterID, ""),
		fmt.Sprintf("ack_cluster_id = %q", clusterID), "ack_cluster_id = terraform_data.cluster.output", 1)
	config := provider + fmt.Sprintf(`
resource "terraform_data" "cluster" {
  input = %q
}

resource "asm_serving_runtime" "test" {
  name                    = "mlserver-ack-later"
  namespace               = %q
  supported_model_formats = [{ name = "sklearn", version = "0" }]
  mlserver                = { image = "seldonio/mlserver:1.3.2" }
}
`, clusterID, namespace)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: func(*terraform.State) error {
				if len(ack.Issued()) == 0 {
					return errors.New("the apply never fetched a kubeconfig for the cluster")
				}
				ref := kube.Ref{Kind: kube.ServingRuntime, Namespace: namespace, Name: "mlserver-ack-later"}
				_, err := acctest.Kube(t).Get(context.Background(), ref)
				return err
			},
		}},
	})
}

// TestAccProvider_ackErrorsAtFirstUse: an unknown cluster and an identity without the RAM
// permission are reported at the first Kubernetes call, saying what to change; a create-only plan
// before that asks ACK nothing.
func TestAccProvider_ackErrorsAtFirstUse(t *testing.T) {
	acctest.PreCheck(t)
	fake := acctest.SkipWithoutFake(t)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)
	namespace := acctest.CreateNamespace(t, "ackerr")
	runtime := fmt.Sprintf(`
resource "asm_serving_runtime" "test" {
  name                    = "mlserver-ack-errors"
  namespace               = %q
  supported_model_formats = [{ name = "sklearn", version = "0" }]
  mlserver                = { image = "seldonio/mlserver:1.3.2" }
}
`, namespace)
	const unknown = "c0000000000000000000000000000dead"
	const deniedKey, deniedSecret = "LTAI5tNoCsPermission", "no-cs-permission-secret"
	fake.AddCredential(asmfake.Credential{AccessKeyID: deniedKey, AccessKeySecret: deniedSecret})
	ack.Deny(deniedKey)
	denied := strings.NewReplacer(localstack.AccessKeyID, deniedKey, localstack.AccessKeySecret, deniedSecret).
		Replace(acctest.ProviderConfigACK(ack, clusterID, ""))
	before := fake.CountRequests(kubeconfigAction)

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:             acctest.ProviderConfigACK(ack, unknown, "") + runtime,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				PreConfig: func() {
					if n := fake.CountRequests(kubeconfigAction) - before; n != 0 {
						t.Errorf("a create-only plan asked ACK for a kubeconfig %d times", n)
					}
				},
				Config: acctest.ProviderConfigACK(ack, unknown, "") + runtime,
				ExpectError: errorPattern(`Kubernetes cluster not reachable with the provider configuration .* ACK cluster ` + unknown +
					` was not found \(ErrorClusterNotFound\): check kubernetes.ack_cluster_id .* region`),
			},
			{
				Config: denied + runtime,
				ExpectError: errorPattern(`HTTP 403, StatusForbidden\): grant it the RAM action cs:DescribeClusterUserKubeconfig on ` +
					`acs:cs:\*:\*:cluster/` + clusterID),
			},
		},
	})
	if len(ack.Issued()) != 0 {
		t.Errorf("kubeconfigs were issued despite the refusals: %+v", ack.Issued())
	}
}

// TestAccProvider_ackNoCredentialInLogsOrState applies and refreshes through an ACK kubeconfig with
// TRACE logging to a file, then requires that no credential ACK handed out reached the log or state.
func TestAccProvider_ackNoCredentialInLogsOrState(t *testing.T) {
	acctest.PreCheck(t)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{})
	ack := acctest.ACKCluster(t, acctest.LocalCluster(t), clusterID, 0)
	namespace := acctest.CreateNamespace(t, "acksec")
	logPath := filepath.Join(t.TempDir(), "trace.log")
	t.Setenv("TF_LOG", "TRACE")
	t.Setenv("TF_LOG_PATH", logPath)
	t.Setenv("TF_ACC_LOG", "TRACE")
	t.Setenv("TF_ACC_LOG_PATH", logPath)
	config := acctest.ProviderConfigACK(ack, clusterID, "") + fmt.Sprintf(`
resource "asm_serving_runtime" "test" {
  name                    = "mlserver-ack-secrets"
  namespace               = %q
  supported_model_formats = [{ name = "sklearn", version = "0" }]
  mlserver                = { image = "seldonio/mlserver:1.3.2" }
}
`, namespace)
	credentials := func() []string {
		var out []string
		for _, issued := range ack.Issued() {
			out = append(out, issued.Credential.Token)
		}
		return out
	}
	checkState := func(s *terraform.State) error {
		tokens := credentials()
		if len(tokens) == 0 {
			return errors.New("no kubeconfig was fetched: the check would prove nothing")
		}
		for addr, rs := range s.RootModule().Resources {
			for key, value := range rs.Primary.Attributes {
				for _, token := range tokens {
					if strings.Contains(value, token) {
						return fmt.Errorf("a credential from ACK's kubeconfig is in state under %s.%s", addr, key)
					}
				}
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: config, Check: checkState},
			{RefreshState: true, Check: checkState},
		},
	})

	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("reading the TRACE log: %v", err)
	}
	log := string(raw)
	if !strings.Contains(log, "configured asm provider") || !strings.Contains(log, clusterID) {
		t.Fatalf("the TRACE log (%d bytes) lacks the provider's configuration line naming the cluster: it does not log to it", len(log))
	}
	for _, token := range credentials() {
		// A JWT's first part is the same header for every token: look for the signed claims and signature.
		_, claims, _ := strings.Cut(token, ".")
		for n, line := range strings.Split(log, "\n") {
			if strings.Contains(line, claims) {
				t.Errorf("a credential from ACK's kubeconfig is in line %d of the TRACE log", n+1)
			}
		}
	}
}
