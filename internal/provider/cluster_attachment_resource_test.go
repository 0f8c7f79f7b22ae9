package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
)

const attachmentAddr = "asm_cluster_attachment.test"

// testMeshID is a mesh of the test's own on the fake, so that faults and call counts concern this
// test alone; against real ASM it is the mesh the environment names.
func testMeshID(t *testing.T) string {
	t.Helper()
	if fake := acctest.ASMFake(); fake != nil {
		return fake.AddMesh(asmfake.Mesh{}).ID
	}
	return acctest.MeshID()
}

// testASMClient talks to the ASM the tests run against, for checks and out-of-band changes.
func testASMClient(t *testing.T) *asm.Client {
	t.Helper()
	var cfg asm.Config
	if fake := acctest.ASMFake(); fake != nil {
		cfg = asm.Config{Region: localstack.Region,
			Credentials: credentials.NewStaticAKCredentialsProvider(localstack.AccessKeyID, localstack.AccessKeySecret), Endpoint: fake.Endpoint(), Protocol: "HTTP", MaxRetries: 5}
	} else {
		// The environment's credential chain, as the provider resolves it.
		var err error
		if cfg, err = newProviderData(providerModel{}, os.Getenv).resolvedASMConfig(); err != nil {
			t.Fatal(err)
		}
	}
	client, err := asm.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// providerConfigWith is the environment's provider block with extra settings.
func providerConfigWith(settings string) string {
	return strings.Replace(acctest.ProviderConfig(), "provider \"asm\" {\n", "provider \"asm\" {\n"+settings+"\n", 1)
}

func attachmentConfig(meshID, clusterID, body string) string {
	return acctest.ProviderConfig() + attachmentBlock(meshID, clusterID, body)
}

func attachmentBlock(meshID, clusterID, body string) string {
	return fmt.Sprintf(`
resource "asm_cluster_attachment" "test" {
  mesh_id    = %q
  cluster_id = %q
%s}
`, meshID, clusterID, body)
}

// checkAttachmentsGone asks the API that no attachment in state is left in its mesh.
func checkAttachmentsGone(t *testing.T) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		client := testASMClient(t)
		for _, rs := range s.RootModule().Resources {
			if rs.Type != "asm_cluster_attachment" {
				continue
			}
			meshID, clusterID := rs.Primary.Attributes["mesh_id"], rs.Primary.Attributes["cluster_id"]
			cl, err := client.GetCluster(t.Context(), meshID, clusterID)
			if err == nil {
				return fmt.Errorf("cluster %s is still in mesh %s (state %s)", clusterID, meshID, cl.State)
			}
			if !asm.IsNotFound(err) {
				return err
			}
		}
		return nil
	}
}

// checkMeshHasNoCluster asks the API that the cluster is not in the mesh, whatever the state says.
func checkMeshHasNoCluster(t *testing.T, meshID, clusterID string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		cl, err := testASMClient(t).GetCluster(t.Context(), meshID, clusterID)
		if err == nil {
			return fmt.Errorf("cluster %s was left in mesh %s in state %s", clusterID, meshID, cl.State)
		}
		if !asm.IsNotFound(err) {
			return err
		}
		return nil
	}
}

func TestAccClusterAttachment_basic(t *testing.T) {
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	config := attachmentConfig(meshID, clusterID, "")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("id"), knownvalue.StringExact(meshID+":"+clusterID)),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("cluster_name"), knownvalue.StringRegexp(regexp.MustCompile(`.+`))),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("cluster_type"), knownvalue.StringRegexp(regexp.MustCompile(`.+`))),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("region"), knownvalue.StringRegexp(regexp.MustCompile(`^[a-z]+-[a-z0-9-]+$`))),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("kubernetes_version"), knownvalue.StringRegexp(regexp.MustCompile(`^1\.`))),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("vpc_id"), knownvalue.StringRegexp(regexp.MustCompile(`^vpc-`))),
				},
			},
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				ResourceName:      attachmentAddr,
				ImportState:       true,
				ImportStateId:     meshID + ":" + clusterID,
				ImportStateVerify: true,
			},
			{
				// Timeouts are the only thing updated in place.
				Config: attachmentConfig(meshID, clusterID, "  timeouts {\n    delete = \"20m\"\n  }\n"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(attachmentAddr, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("timeouts").AtMapKey("delete"), knownvalue.StringExact("20m")),
				},
			},
		},
	})
}

func TestAccClusterAttachment_disappears(t *testing.T) {
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	config := attachmentConfig(meshID, clusterID, "")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: func(*terraform.State) error {
					return testASMClient(t).DetachCluster(t.Context(), meshID, clusterID)
				},
				ExpectNonEmptyPlan: true,
			},
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(attachmentAddr, plancheck.ResourceActionCreate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
				},
			},
		},
	})
}

func TestAccClusterAttachment_severalInOneMesh(t *testing.T) {
	meshID := testMeshID(t)
	clusters := []string{acctest.ClusterID(t), acctest.ClusterID(t), acctest.ClusterID(t)}
	config := acctest.ProviderConfig() + fmt.Sprintf(`
resource "asm_cluster_attachment" "test" {
  count      = %[2]d
  mesh_id    = %[3]q
  cluster_id = %[1]s[count.index]
}
`, hclList(clusters), len(clusters), meshID)
	var checks []statecheck.StateCheck
	for i, id := range clusters {
		addr := fmt.Sprintf("%s[%d]", attachmentAddr, i)
		checks = append(checks,
			statecheck.ExpectKnownValue(addr, tfjsonpath.New("cluster_id"), knownvalue.StringExact(id)),
			statecheck.ExpectKnownValue(addr, tfjsonpath.New("state"), knownvalue.StringExact("running")))
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{Config: config, ConfigStateChecks: checks},
			{Config: config, ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}}},
		},
	})
}

// wrappedText matches the texts in order, however Terraform wrapped their lines.
func wrappedText(texts ...string) *regexp.Regexp {
	parts := make([]string, len(texts))
	for i, text := range texts {
		parts[i] = strings.Join(strings.Fields(regexp.QuoteMeta(text)), `\s+`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, ".*"))
}

func hclList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func TestAccClusterAttachment_alreadyInMesh(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	if err := fake.AttachClusterOutOfBand(meshID, clusterID); err != nil {
		t.Fatal(err)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      attachmentConfig(meshID, clusterID, ""),
			ExpectError: wrappedText("already in mesh", "terraform import asm_cluster_attachment.<name> "+meshID+":"+clusterID),
		}},
	})
}

func TestAccClusterAttachment_importMalformedID(t *testing.T) {
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{Config: attachmentConfig(meshID, clusterID, "")},
			{
				ResourceName:  attachmentAddr,
				ImportState:   true,
				ImportStateId: meshID + "/" + clusterID,
				ExpectError:   wrappedText("not of the form <mesh_id>:<cluster_id>"),
			},
		},
	})
}

func TestClusterAttachment_validation(t *testing.T) {
	const good = "c0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	for name, tc := range map[string]struct{ mesh, cluster, body, want string }{
		"mesh id":       {mesh: "mesh-1", cluster: good, want: `(?s)mesh_id.*must be an ASM mesh ID`},
		"cluster id":    {mesh: good, cluster: "C0A1B2C3D4E5F60718293A4B5C6D7E8F9", want: `(?s)cluster_id.*must be an ACK cluster\s+ID`},
		"empty cluster": {mesh: good, cluster: "", want: `(?s)cluster_id.*must be an ACK cluster\s+ID`},
		"timeout": {mesh: good, cluster: good, body: "  timeouts {\n    create = \"soon\"\n  }\n",
			want: `(?s)Invalid Attribute Value Time Duration.*create = "soon"`},
	} {
		t.Run(name, func(t *testing.T) {
			resource.ParallelTest(t, resource.TestCase{
				IsUnitTest:               true, // validation only: runs without TF_ACC, beside its siblings
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      "provider \"asm\" {}\n" + attachmentBlock(tc.mesh, tc.cluster, tc.body),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}

// The fault tests below are sequential (resource.Test): an injected fault applies to every call of
// its action, and parallel tests only start once the sequential ones are done.

func TestAccClusterAttachment_throttledThenSucceeds(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{{
			PreConfig: func() {
				fake.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{Code: asmfake.CodeThrottling, Times: 2})
				fake.InjectFault("DescribeClustersInServiceMesh", asmfake.Fault{Code: asmfake.CodeRejectedThrottling, Times: 2})
				t.Cleanup(fake.ClearFaults)
			},
			Config: attachmentConfig(meshID, clusterID, ""),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
			},
			Check: func(*terraform.State) error {
				if got := callsFor(fake, meshID)["AddClusterIntoServiceMesh"]; got != 3 {
					return fmt.Errorf("AddClusterIntoServiceMesh calls = %d, want 2 throttled + 1", got)
				}
				return nil
			},
		}},
	})
}

func TestAccClusterAttachment_5xxWhileWaiting(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{{
			PreConfig: func() {
				// More 503s in a row than one call retries (max_retries = 1): the wait reads past them.
				fake.InjectFault("DescribeClustersInServiceMesh", asmfake.Fault{Code: asmfake.CodeServiceUnavailable, Times: 3})
				fake.InjectFault("DescribeClustersInServiceMesh", asmfake.Fault{Code: asmfake.CodeInternalError, Times: 1})
				t.Cleanup(fake.ClearFaults)
			},
			Config: providerConfigWith("  max_retries = 1") + attachmentBlock(meshID, clusterID, ""),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
			},
		}},
	})
}

func TestAccClusterAttachment_failedClusterIsRemoved(t *testing.T) {
	acctest.SkipWithoutFake(t)
	const reason = "the cluster's API server is not reachable from the mesh"
	meshID := testMeshID(t)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{AttachError: reason})
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkMeshHasNoCluster(t, meshID, clusterID),
		Steps: []resource.TestStep{
			{
				Config:      attachmentConfig(meshID, clusterID, ""),
				ExpectError: wrappedText("Cluster failed to join the mesh", reason, "removed from the mesh again"),
			},
			{
				PreConfig: func() {
					if err := checkMeshHasNoCluster(t, meshID, clusterID)(nil); err != nil {
						t.Fatal(err)
					}
				},
				// Nothing was kept in state either: the next plan creates it again rather than replacing it.
				Config:             attachmentConfig(meshID, clusterID, ""),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPreRefresh: []plancheck.PlanCheck{plancheck.ExpectResourceAction(attachmentAddr, plancheck.ResourceActionCreate)},
				},
			},
		},
	})
}

func TestAccClusterAttachment_waitTimeoutTaintsAndRecovers(t *testing.T) {
	acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{
				// Shorter than the fake takes to attach a cluster.
				Config:      attachmentConfig(meshID, clusterID, "  timeouts {\n    create = \"200ms\"\n  }\n"),
				ExpectError: wrappedText("did not complete", "timed out waiting for cluster", "kept in the state as tainted"),
			},
			{
				Config: attachmentConfig(meshID, clusterID, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					// Replace, not create: the attachment was kept in state (tainted), not lost.
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(attachmentAddr, plancheck.ResourceActionReplace)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
				},
			},
		},
	})
}

// TestAccClusterAttachment_notFoundVersusUnavailable: only a definite not-found removes the
// attachment from state; a 503 fails the refresh and leaves the state alone.
func TestAccClusterAttachment_notFoundVersusUnavailable(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	config := providerConfigWith("  max_retries = 0") + attachmentBlock(meshID, clusterID, "")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkMeshHasNoCluster(t, meshID, clusterID),
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					fake.InjectFault("DescribeClustersInServiceMesh", asmfake.Fault{Code: asmfake.CodeServiceUnavailable})
				},
				RefreshState: true,
				ExpectError:  regexp.MustCompile(`(?s)ServiceUnavailable \(HTTP 503\).*request ID: [0-9A-F-]{36}`),
			},
			{
				PreConfig: fake.ClearFaults,
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					// Still in state after the failed refresh, and unchanged.
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				PreConfig: func() {
					if err := fake.DeleteMesh(meshID); err != nil {
						t.Fatal(err)
					}
				},
				RefreshState: true,
				Check: func(s *terraform.State) error {
					if _, ok := s.RootModule().Resources[attachmentAddr]; ok {
						return errors.New("attachment still in state after its mesh answered ServiceMesh.NotFound")
					}
					return nil
				},
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

// TestAccClusterAttachment_oneCallPerRefresh: refreshing reads each attachment with exactly one call.
func TestAccClusterAttachment_oneCallPerRefresh(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID := testMeshID(t)
	clusters := []string{acctest.ClusterID(t), acctest.ClusterID(t)}
	config := acctest.ProviderConfig() + fmt.Sprintf(`
resource "asm_cluster_attachment" "test" {
  count      = %[2]d
  mesh_id    = %[3]q
  cluster_id = %[1]s[count.index]
}
`, hclList(clusters), len(clusters), meshID)
	var before map[string]int
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig:    func() { before = callsFor(fake, meshID) },
				RefreshState: true,
				Check: func(*terraform.State) error {
					after := callsFor(fake, meshID)
					want := map[string]int{"DescribeClustersInServiceMesh": len(clusters)}
					for action := range mergeKeys(before, after) {
						if got := after[action] - before[action]; got != want[action] {
							return fmt.Errorf("refresh made %d %s calls for mesh %s, want %d", got, action, meshID, want[action])
						}
					}
					return nil
				},
			},
		},
	})
}

// callsFor counts the calls about one mesh, by action.
func callsFor(fake *asmfake.Server, meshID string) map[string]int {
	calls := map[string]int{}
	for _, r := range fake.Requests() {
		if r.Params["ServiceMeshId"] == meshID {
			calls[r.Action]++
		}
	}
	return calls
}

func mergeKeys(maps ...map[string]int) map[string]bool {
	keys := map[string]bool{}
	for _, m := range maps {
		for k := range m {
			keys[k] = true
		}
	}
	return keys
}

// requestsFor lists the calls of one action about one mesh, oldest first.
func requestsFor(fake *asmfake.Server, meshID, action string) []asmfake.Request {
	var out []asmfake.Request
	for _, r := range fake.Requests() {
		if r.Action == action && r.Params["ServiceMeshId"] == meshID {
			out = append(out, r)
		}
	}
	return out
}

// TestAccClusterAttachment_lostAddAnswer: the add is carried out but its answer is lost; the
// provider's repeat is refused with a code nobody documented. The apply still succeeds, from what
// the mesh shows, and the cluster is in state: no orphan.
func TestAccClusterAttachment_lostAddAnswer(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	config := attachmentConfig(meshID, clusterID, "")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             resource.ComposeTestCheckFunc(checkAttachmentsGone(t), checkMeshHasNoCluster(t, meshID, clusterID)),
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					fake.InjectFault("AddClusterIntoServiceMesh", asmfake.Fault{LoseAnswer: true, Times: 1})
					t.Cleanup(fake.ClearFaults)
				},
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
				},
				Check: func(*terraform.State) error {
					adds := requestsFor(fake, meshID, "AddClusterIntoServiceMesh")
					if len(adds) != 2 || !adds[0].AnswerLost || adds[1].Code == "" {
						return fmt.Errorf("adds = %+v; want one carried out with its answer lost, then a refused repeat", adds)
					}
					if m, _ := fake.Mesh(meshID); m.State != asmfake.MeshRunning {
						return fmt.Errorf("mesh is %s after the apply, want running", m.State)
					}
					return nil
				},
			},
			{
				Config:           config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// TestAccClusterAttachment_meshUpdating: while another change keeps the mesh "updating", a plan
// that reads it succeeds, and a destroy waits for it to run again instead of being refused.
func TestAccClusterAttachment_meshUpdating(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	withMesh := attachmentConfig(meshID, clusterID, "") + fmt.Sprintf(`
data "asm_mesh" "test" {
  mesh_id         = %q
  minimum_version = "1.18.0.134"
  depends_on      = [asm_cluster_attachment.test]
}
`, meshID)
	busy := func() {
		if err := fake.BusyMesh(meshID, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkMeshHasNoCluster(t, meshID, clusterID),
		Steps: []resource.TestStep{
			{Config: withMesh},
			{
				PreConfig: busy,
				Config:    withMesh,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					expectMesh("state", knownvalue.StringExact("updating")),
				},
			},
			{
				// Destroy the attachment while the mesh is still busy. Once the destroy has read the
				// mesh (the only DescribeServiceMeshDetail caller in this step), the other change ends.
				PreConfig: func() {
					busy()
					since := len(fake.Requests())
					done := make(chan struct{})
					t.Cleanup(func() { <-done })
					go func() {
						defer close(done)
						err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 2*time.Minute, true,
							func(context.Context) (bool, error) {
								for _, r := range fake.Requests()[since:] {
									if r.Action == "DescribeServiceMeshDetail" && r.Params["ServiceMeshId"] == meshID {
										return true, nil
									}
								}
								return false, nil
							})
						if err != nil {
							t.Errorf("the destroy never read the busy mesh: %v", err)
						}
						if err := fake.SetMeshState(meshID, asmfake.MeshRunning, ""); err != nil {
							t.Error(err)
						}
					}()
				},
				Config: acctest.ProviderConfig(),
				Check: func(*terraform.State) error {
					removes := requestsFor(fake, meshID, "RemoveClusterFromServiceMesh")
					if len(removes) != 1 || removes[0].Code != "" {
						return fmt.Errorf("removes = %+v; want one, sent once the mesh was running", removes)
					}
					return checkMeshHasNoCluster(t, meshID, clusterID)(nil)
				},
			},
		},
	})
}

// TestAccClusterAttachment_repeatedRemove: the removal is carried out but its answer is lost; the
// repeat is refused while the mesh is busy with it. The destroy succeeds because the cluster left.
func TestAccClusterAttachment_repeatedRemove(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkMeshHasNoCluster(t, meshID, clusterID),
		Steps: []resource.TestStep{
			{Config: attachmentConfig(meshID, clusterID, "")},
			{
				PreConfig: func() {
					fake.InjectFault("RemoveClusterFromServiceMesh", asmfake.Fault{LoseAnswer: true, Times: 1})
					t.Cleanup(fake.ClearFaults)
				},
				Config: acctest.ProviderConfig(),
				Check: func(*terraform.State) error {
					removes := requestsFor(fake, meshID, "RemoveClusterFromServiceMesh")
					if len(removes) != 2 || !removes[0].AnswerLost || removes[1].Code == "" {
						return fmt.Errorf("removes = %+v; want one carried out with its answer lost, then a refused repeat", removes)
					}
					return checkMeshHasNoCluster(t, meshID, clusterID)(nil)
				},
			},
		},
	})
}

// TestAccClusterAttachment_stoppedCluster: a cluster whose ACK cluster is stopped joins but is
// "stopped": the apply says what to do and keeps it (tainted); once started, the next apply
// replaces it. A refresh shows a cluster that stops later.
func TestAccClusterAttachment_stoppedCluster(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID := testMeshID(t)
	clusterID := acctest.NewAttachableCluster(t, asmfake.Cluster{Stopped: true})
	config := attachmentConfig(meshID, clusterID, "")
	setStopped := func(stopped bool) func() {
		return func() {
			if err := fake.SetClusterStopped(clusterID, stopped); err != nil {
				t.Fatal(err)
			}
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkMeshHasNoCluster(t, meshID, clusterID),
		Steps: []resource.TestStep{
			{
				Config:      config,
				ExpectError: wrappedText("Cluster is stopped in the mesh", "Start it (ACK console)", "kept in the state as tainted"),
			},
			{
				PreConfig: setStopped(false),
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(attachmentAddr, plancheck.ResourceActionReplace)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(attachmentAddr, tfjsonpath.New("state"), knownvalue.StringExact("running")),
				},
			},
			{
				PreConfig:    setStopped(true),
				RefreshState: true,
				Check:        resource.TestCheckResourceAttr(attachmentAddr, "state", "stopped"),
			},
		},
	})
}

// TestAccClusterAttachment_permissionDenied: a RAM identity without the permission gets an error
// naming the action and the permission; nothing is added, and state is kept on a refused destroy.
func TestAccClusterAttachment_permissionDenied(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	config := attachmentConfig(meshID, clusterID, "")
	forbid := func(action string) func() {
		return func() {
			fake.InjectFault(action, asmfake.Fault{Code: asmfake.CodeForbiddenRAM})
			t.Cleanup(fake.ClearFaults)
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkMeshHasNoCluster(t, meshID, clusterID),
		Steps: []resource.TestStep{
			{
				PreConfig: forbid("AddClusterIntoServiceMesh"),
				Config:    config,
				ExpectError: wrappedText("Adding cluster "+clusterID, "Forbidden.RAM (HTTP 403)",
					"may not call AddClusterIntoServiceMesh", "RAM permission servicemesh:AddClusterIntoServiceMesh"),
			},
			{
				PreConfig: func() {
					fake.ClearFaults()
					if err := checkMeshHasNoCluster(t, meshID, clusterID)(nil); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					// Nothing was kept in state: created, not replaced.
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(attachmentAddr, plancheck.ResourceActionCreate)},
				},
			},
			{
				PreConfig:   forbid("RemoveClusterFromServiceMesh"),
				Config:      acctest.ProviderConfig(),
				ExpectError: wrappedText("Removing cluster "+clusterID, "RAM permission servicemesh:RemoveClusterFromServiceMesh"),
			},
			{
				PreConfig: fake.ClearFaults,
				Config:    config,
				// Kept in state after the refused destroy: nothing to do.
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}
