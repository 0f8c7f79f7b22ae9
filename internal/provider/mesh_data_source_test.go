package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

const meshAddr = "data.asm_mesh.test"

func meshConfig(meshID, minimum string) string {
	minimumLine := ""
	if minimum != "" {
		minimumLine = fmt.Sprintf("  minimum_version = %q\n", minimum)
	}
	return acctest.ProviderConfig() + fmt.Sprintf(`
data "asm_mesh" "test" {
  mesh_id = %q
%s}
`, meshID, minimumLine)
}

// fakeMesh adds a mesh to the fake, skipping the test against real ASM.
func fakeMesh(t *testing.T, m asmfake.Mesh) string {
	t.Helper()
	return acctest.SkipWithoutFake(t).AddMesh(m).ID
}

func expectMesh(path string, value knownvalue.Check) statecheck.StateCheck {
	return statecheck.ExpectKnownValue(meshAddr, tfjsonpath.New(path), value)
}

func TestAccMeshDataSource_basic(t *testing.T) {
	meshID, clusterID := testMeshID(t), acctest.ClusterID(t)
	nonEmpty := knownvalue.StringRegexp(regexp.MustCompile(`.+`))
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             checkAttachmentsGone(t),
		Steps: []resource.TestStep{{
			// The data source depends on the attachment, so it lists the attached cluster.
			Config: attachmentConfig(meshID, clusterID, "") + `
data "asm_mesh" "test" {
  mesh_id         = asm_cluster_attachment.test.mesh_id
  minimum_version = "1.18.0.134"
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				expectMesh("mesh_id", knownvalue.StringExact(meshID)),
				expectMesh("name", nonEmpty),
				expectMesh("region", nonEmpty),
				expectMesh("state", knownvalue.StringExact("running")),
				expectMesh("error_message", knownvalue.StringExact("")),
				expectMesh("version", knownvalue.StringRegexp(regexp.MustCompile(`^v\d+\.\d+\.\d+\.\d+`))),
				expectMesh("version_number", knownvalue.StringRegexp(regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`))),
				expectMesh("meets_minimum_version", knownvalue.Bool(true)),
				expectMesh("vpc_id", knownvalue.StringRegexp(regexp.MustCompile(`^vpc-`))),
				statecheck.ExpectKnownValue(meshAddr, tfjsonpath.New("endpoints").AtMapKey("intranet_api_server"), nonEmpty),
				statecheck.ExpectKnownValue(meshAddr, tfjsonpath.New("clusters"), knownvalue.ListPartial(map[int]knownvalue.Check{
					0: knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"id":    knownvalue.StringExact(clusterID),
						"state": knownvalue.StringExact("running"),
					}),
				})),
			},
		}},
	})
}

func TestAccMeshDataSource_fakeValues(t *testing.T) {
	meshID := fakeMesh(t, asmfake.Mesh{Name: "prod-mesh", Version: "v1.22.6.71-g7d67a80b-aliyun",
		Endpoints: asmfake.Endpoints{PublicAPIServer: "https://47.0.0.1:6443", PublicPilot: "47.0.0.2"}})
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: meshConfig(meshID, ""),
			ConfigStateChecks: []statecheck.StateCheck{
				expectMesh("name", knownvalue.StringExact("prod-mesh")),
				expectMesh("region", knownvalue.StringExact(asmfake.DefaultRegionID)),
				expectMesh("version", knownvalue.StringExact("v1.22.6.71-g7d67a80b-aliyun")),
				expectMesh("version_number", knownvalue.StringExact("1.22.6.71")),
				expectMesh("meets_minimum_version", knownvalue.Bool(true)),
				expectMesh("vpc_id", knownvalue.StringExact(asmfake.DefaultVpcID)),
				expectMesh("endpoints", knownvalue.ObjectExact(map[string]knownvalue.Check{
					"intranet_api_server": knownvalue.StringExact("https://192.168.0.10:6443"),
					"public_api_server":   knownvalue.StringExact("https://47.0.0.1:6443"),
					"intranet_pilot":      knownvalue.StringExact("192.168.0.11"),
					"public_pilot":        knownvalue.StringExact("47.0.0.2"),
				})),
				expectMesh("clusters", knownvalue.ListExact([]knownvalue.Check{})),
			},
		}},
	})
}

func TestAccMeshDataSource_versionCheck(t *testing.T) {
	oldMesh := acctest.OldMeshID()
	if oldMesh == "" {
		t.Skip("no mesh older than 1.18.0.134 in this environment (ASM_ACC_OLD_MESH_ID)")
	}
	steps := []resource.TestStep{
		{
			// Read at plan time: the plan fails, nothing is applied.
			Config:   meshConfig(oldMesh, "1.18.0.134"),
			PlanOnly: true,
			ExpectError: wrappedText("Mesh version too old", oldMesh, "older than the required 1.18.0.134",
				"ModelMesh custom serving runtimes need ASM 1.18.0.134 or later", "UpgradeMeshVersion"),
		},
		{
			// Without minimum_version the old mesh reads fine and says it is too old for ModelMesh.
			Config:            meshConfig(oldMesh, ""),
			ConfigStateChecks: []statecheck.StateCheck{expectMesh("meets_minimum_version", knownvalue.Bool(false))},
		},
		{
			Config:            meshConfig(acctest.MeshID(), "1.18.0.134"),
			ConfigStateChecks: []statecheck.StateCheck{expectMesh("meets_minimum_version", knownvalue.Bool(true))},
		},
	}
	if fake := acctest.ASMFake(); fake != nil {
		equal := fake.AddMesh(asmfake.Mesh{Version: "v1.18.0.134-g0a1b2c3d-aliyun"}).ID
		steps = append(steps,
			resource.TestStep{
				Config:            meshConfig(equal, "1.18.0.134"),
				ConfigStateChecks: []statecheck.StateCheck{expectMesh("meets_minimum_version", knownvalue.Bool(true))},
			},
			resource.TestStep{
				Config:      meshConfig(equal, "v1.18.0.135"),
				PlanOnly:    true,
				ExpectError: wrappedText("runs ASM 1.18.0.134", "older than the required 1.18.0.135"),
			},
		)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps:                    steps,
	})
}

func TestAccMeshDataSource_unusualVersions(t *testing.T) {
	for _, tc := range []struct {
		version, number string
	}{
		{version: "1.22.6.71", number: "1.22.6.71"},
		{version: "v1.22.6.71-rc.1+build.7", number: "1.22.6.71"},
		{version: "v01.022.6.71-g7d67a80b-aliyun", number: "1.22.6.71"},
		{version: "v1.22-g7d67a80b-aliyun"},
		{version: "unknown"},
		{version: ""},
	} {
		t.Run(tc.version, func(t *testing.T) {
			meshID := fakeMesh(t, asmfake.Mesh{})
			if err := acctest.ASMFake().SetMeshVersion(meshID, tc.version); err != nil {
				t.Fatal(err)
			}
			var number, meets knownvalue.Check = knownvalue.Null(), knownvalue.Null()
			steps := []resource.TestStep{}
			if tc.number != "" {
				number, meets = knownvalue.StringExact(tc.number), knownvalue.Bool(true)
			} else {
				steps = append(steps, resource.TestStep{
					Config:      meshConfig(meshID, "1.18.0.134"),
					PlanOnly:    true,
					ExpectError: wrappedText("Cannot check the mesh version", fmt.Sprintf("version %q is not an ASM version", tc.version)),
				})
			}
			steps = append(steps, resource.TestStep{
				Config: meshConfig(meshID, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					expectMesh("version", knownvalue.StringExact(tc.version)),
					expectMesh("version_number", number),
					expectMesh("meets_minimum_version", meets),
				},
			})
			resource.ParallelTest(t, resource.TestCase{
				PreCheck:                 func() { acctest.PreCheck(t) },
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps:                    steps,
			})
		})
	}
}

// TestAccMeshDataSource_meshState: a mesh is read in any state; only failure states fail the plan.
func TestAccMeshDataSource_meshState(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	meshIn := func(state, message string) string {
		id := fakeMesh(t, asmfake.Mesh{})
		if err := fake.SetMeshState(id, state, message); err != nil {
			t.Fatal(err)
		}
		return id
	}
	steps := []resource.TestStep{}
	// Transitional, and one this provider has never seen: read, with the state reported.
	for _, state := range []string{asmfake.MeshUpdating, asmfake.MeshUpgrading, asmfake.MeshInitial, "scaling"} {
		steps = append(steps, resource.TestStep{
			Config:            meshConfig(meshIn(state, ""), "1.18.0.134"),
			ConfigStateChecks: []statecheck.StateCheck{expectMesh("state", knownvalue.StringExact(state))},
		})
	}
	for _, state := range []string{asmfake.MeshUpgradingFailed, asmfake.MeshUpdatingFailed, asmfake.MeshFailed, asmfake.MeshCreateTimeout} {
		steps = append(steps, resource.TestStep{
			Config:      meshConfig(meshIn(state, "pilot did not become ready"), ""),
			PlanOnly:    true,
			ExpectError: wrappedText("Mesh is not usable", state, "pilot did not become ready"),
		})
	}
	steps = append(steps,
		resource.TestStep{
			Config:      meshConfig("c00000000000000000000000000000000", ""),
			PlanOnly:    true,
			ExpectError: wrappedText("Mesh not found", "ServiceMesh.NotFound (HTTP 404)", "request ID:"),
		},
		resource.TestStep{
			// ASM's documented ERR404 means gone just as well.
			PreConfig: func() {
				fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeNotFound, Times: 1})
				t.Cleanup(fake.ClearFaults)
			},
			Config:      meshConfig(fakeMesh(t, asmfake.Mesh{}), ""),
			PlanOnly:    true,
			ExpectError: wrappedText("Mesh not found", "ERR404 (HTTP 404)"),
		},
		resource.TestStep{
			// A missing permission is not "not found": it names the permission.
			PreConfig: func() {
				fake.InjectFault("DescribeServiceMeshDetail", asmfake.Fault{Code: asmfake.CodeForbiddenRAM, Times: 1})
			},
			Config:      meshConfig(fakeMesh(t, asmfake.Mesh{}), ""),
			PlanOnly:    true,
			ExpectError: wrappedText("Reading mesh", "Forbidden.RAM (HTTP 403)", "RAM permission servicemesh:DescribeServiceMeshDetail"),
		},
	)
	// Not parallel: the faults it injects are the fake's, and would hit any test reading a mesh.
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		Steps:                    steps,
	})
}

func TestMeshDataSource_validation(t *testing.T) {
	for name, tc := range map[string]struct{ mesh, minimum, want string }{
		"mesh id":      {mesh: "my-mesh", want: `(?s)mesh_id.*must be an ASM mesh ID`},
		"three parts":  {mesh: "c0a1b2c3d4e5f60718293a4b5c6d7e8f9", minimum: "1.18.0", want: `(?s)minimum_version.*"1\.18\.0" is not an\s+ASM version`},
		"not a number": {mesh: "c0a1b2c3d4e5f60718293a4b5c6d7e8f9", minimum: "latest", want: `(?s)minimum_version.*"latest"`},
	} {
		t.Run(name, func(t *testing.T) {
			minimumLine := ""
			if tc.minimum != "" {
				minimumLine = fmt.Sprintf("  minimum_version = %q\n", tc.minimum)
			}
			resource.ParallelTest(t, resource.TestCase{
				IsUnitTest:               true, // validation only: runs without TF_ACC, beside its siblings
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      fmt.Sprintf("provider \"asm\" {}\ndata \"asm_mesh\" \"test\" {\n  mesh_id = %q\n%s}\n", tc.mesh, minimumLine),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}
