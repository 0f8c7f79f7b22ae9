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

	"github.com/hashicorp/terraform-exec/tfexec"
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
	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

const kubeconfigAction = "DescribeClusterUserKubeconfig"

// quickstartConfig is examples/quickstart/main.tf for acctest.NewTerraform, which writes its own
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
	// The quickstart's ingress: the mesh's control plane, and the guide's gateway on the cluster.
	acctest.MeshControlPlane(t)
	const gatewayAddress = "192.0.2.20"
	acctest.CreateIngressGateway(t, acctest.IngressGateway{IngressGateway: localstack.DefaultIngressGateway,
		Address: gatewayAddress, AddressDelay: time.Second})
	fake := acctest.ASMFake()
	tf := acctest.NewTerraform(t, func() tfprotov6.ProviderServer {
		s, err := planfast.NewProtocol6(New("test"))()
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
		quickstartConfig(t))
	ctx := t.Context()
	meshVar, clusterVar := tfexec.Var("mesh_id="+meshID), tfexec.Var("cluster_id="+clusterID)

	validated, err := tf.Validate(ctx)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !validated.Valid {
		t.Fatalf("validate: %d errors: %+v", validated.ErrorCount, validated.Diagnostics)
	}
	if changes, err := tf.Plan(ctx, meshVar, clusterVar); err != nil || !changes {
		t.Fatalf("plan: %v; changes: %v, want a plan that creates", err, changes)
	}
	if n := fake.CountRequests(kubeconfigAction); n != 0 {
		t.Fatalf("validate and a create-only plan asked ACK for a kubeconfig %d times", n)
	}

	t.Cleanup(func() {
		// The test's context has ended by now.
		if err := tf.Destroy(context.Background(), meshVar, clusterVar); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	if err := tf.Apply(ctx, meshVar, clusterVar); err != nil {
		t.Fatalf("apply: %v", err)
	}
	outputs, err := tf.Output(ctx)
	if err != nil {
		t.Fatalf("output: %v", err)
	}
	if ready := string(outputs["my_model_sample_ready"].Value); ready != "true" {
		t.Errorf("my_model_sample_ready = %q, want true", ready)
	}
	if url, want := string(outputs["my_model_sample_infer_url"].Value), `"http://`+gatewayAddress+`:8008/v2/models/my-model-sample/infer"`; url != want {
		t.Errorf("my_model_sample_infer_url = %s, want %s", url, want)
	}
	issued := ack.Issued()
	if len(issued) != 1 || issued[0].AccessKeyID != localstack.AccessKeyID || issued[0].ClusterID != clusterID || issued[0].Private {
		t.Errorf("want one public-endpoint kubeconfig for %s fetched with the provider's access key, got %+v", clusterID, issued)
	}
	model := kube.Ref{Kind: kube.InferenceService, Namespace: testcluster.ServingNamespace, Name: "my-model-sample"}
	if _, err := acctest.Kube(t).Get(context.Background(), model); err != nil {
		t.Errorf("the quickstart's model is not on the cluster: %v", err)
	}

	// A second plan is empty (terraform-exec plans with -detailed-exitcode).
	if changes, err := tf.Plan(ctx, meshVar, clusterVar); err != nil || changes {
		t.Errorf("the plan after apply: %v; changes: %v, want none (the plan is in the log above)", err, changes)
	}
}

// ackModelsConfig is a runtime, a model whose load takes model-mesh's SlowLoadDelay, and a
// second model created only once the first is READY.
func ackModelsConfig(providerBlock, namespace string) string {
	runtime := acctest.Runtime{Name: "mlserver-ack", Namespace: namespace}
	slow := acctest.Model{Label: "slow", Name: "slow", Namespace: namespace, Runtime: runtime.NameRef(), Path: "slow/model.joblib"}
	after := acctest.Model{Label: "after", Name: "after", Namespace: namespace, Runtime: runtime.NameRef(), Path: "sklearn/model.joblib",
		Extra: "  depends_on = [" + slow.Address() + "]"}
	return providerBlock + runtime.HCL() + slow.HCL() + after.HCL()
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
	config := provider + fmt.Sprintf("\nresource \"terraform_data\" \"cluster\" {\n  input = %q\n}\n", clusterID) +
		acctest.Runtime{Name: "mlserver-ack-later", Namespace: namespace}.HCL()
	resource.ParallelTest(t, resource.TestCase{
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
	runtime := acctest.Runtime{Name: "mlserver-ack-errors", Namespace: namespace}.HCL()
	const unknown = "c0000000000000000000000000000dead"
	const deniedKey, deniedSecret = "LTAI5tNoCsPermission", "no-cs-permission-secret"
	fake.AddCredential(asmfake.Credential{AccessKeyID: deniedKey, AccessKeySecret: deniedSecret})
	ack.Deny(deniedKey)
	denied := strings.NewReplacer(localstack.AccessKeyID, deniedKey, localstack.AccessKeySecret, deniedSecret).
		Replace(acctest.ProviderConfigACK(ack, clusterID, ""))
	before := fake.CountRequests(kubeconfigAction)

	// Not parallel: it counts the kubeconfig requests of every test on the shared ASM fake.
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
	traceLog := acctest.TraceLog(t)
	config := acctest.ProviderConfigACK(ack, clusterID, "") + acctest.Runtime{Name: "mlserver-ack-secrets", Namespace: namespace}.HCL()
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

	log := traceLog()
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
