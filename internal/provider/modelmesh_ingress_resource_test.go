package provider

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
)

const ingressAddr = "asm_modelmesh_ingress.test"

// ingressTest is a serving namespace of the test's own, on the data plane and on the mesh's control
// plane, and an ingress gateway of its own (its Service is cluster-wide, in istio-system).
type ingressTest struct {
	t                  *testing.T
	namespace, gateway string
	controlPlane       *kube.Client
}

func newIngressTest(t *testing.T, gateway acctest.IngressGateway) ingressTest {
	acctest.PreCheck(t)
	it := ingressTest{t: t, controlPlane: acctest.MeshControlPlane(t), namespace: acctest.CreateNamespace(t, "ingress")}
	acctest.CreateMeshNamespace(t, it.namespace)
	if gateway.Name != "" {
		acctest.CreateIngressGateway(t, gateway)
		it.gateway = gateway.Name
	}
	return it
}

func (it ingressTest) config(gatewayName, extra string) string {
	return acctest.ProviderConfig() + fmt.Sprintf(`
resource "asm_modelmesh_ingress" "test" {
  mesh_id      = %q
  namespace    = %q
  gateway_name = %q
  timeouts {
    create = "1m"
  }
%s
}

output "model_url" {
  # Null with GRPC, which names the model in the request instead.
  value = asm_modelmesh_ingress.test.model_url_template == null ? null : format(asm_modelmesh_ingress.test.model_url_template, "my-model")
}
`, localstack.MeshID, it.namespace, gatewayName, extra)
}

func (it ingressTest) get(ref kube.Ref) *unstructured.Unstructured {
	obj, err := it.controlPlane.Get(context.Background(), ref)
	if err != nil {
		it.t.Fatalf("reading %s on the control plane: %v", ref, err)
	}
	return obj
}

func (it ingressTest) spec() ingressSpec {
	return ingressSpec{name: defaultIngressName, namespace: it.namespace}
}

// checkGone is the CheckDestroy: both objects are gone from the control plane.
func (it ingressTest) checkGone(*terraform.State) error {
	for _, ref := range []kube.Ref{it.spec().gatewayRef(), it.spec().virtualServiceRef()} {
		if _, err := it.controlPlane.Get(context.Background(), ref); !kube.IsNotFound(err) {
			return fmt.Errorf("%s still exists on the control plane (err %v)", ref, err)
		}
	}
	return nil
}

// The ASM guide's routing, made in one apply: the Gateway and VirtualService on the control plane,
// the wait for the gateway's load balancer (its address comes 2 s after the apply starts), the URLs;
// a re-plan is empty, import restores everything, a protocol change reroutes to gRPC.
func TestAccModelMeshIngress_basic(t *testing.T) {
	gw := acctest.RandomName("gw")
	const address = "192.0.2.10"
	it := newIngressTest(t, acctest.IngressGateway{IngressGateway: localstack.IngressGateway{Name: gw, Ports: []int32{80, 443, 8008}}, Address: address,
		AddressDelay: 2 * time.Second})
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             it.checkGone,
		Steps: []resource.TestStep{
			{
				Config: it.config(gw, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ingressAddr, tfjsonpath.New("address"), knownvalue.StringExact(address)),
					statecheck.ExpectKnownValue(ingressAddr, tfjsonpath.New("inference_url"), knownvalue.StringExact("http://"+address+":8008")),
					statecheck.ExpectKnownOutputValue("model_url", knownvalue.StringExact("http://"+address+":8008/v2/models/my-model/infer")),
					statecheck.ExpectKnownValue(ingressAddr, tfjsonpath.New("id"),
						knownvalue.StringExact(localstack.MeshID+":"+it.namespace+"/"+defaultIngressName)),
				},
				Check: func(*terraform.State) error {
					g := it.get(it.spec().gatewayRef())
					if sel, _, _ := unstructured.NestedString(g.Object, "spec", "selector", "istio"); sel != gw {
						return fmt.Errorf("gateway selector istio=%q, want %q", sel, gw)
					}
					vs := it.get(it.spec().virtualServiceRef())
					if port := backendOf(vs); port != servingRESTPort {
						return fmt.Errorf("route goes to port %d, want the REST proxy's %d", port, servingRESTPort)
					}
					return nil
				},
			},
			{
				Config:           it.config(gw, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				ResourceName:            ingressAddr,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
			{
				Config: it.config(gw, `  protocol = "GRPC"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(ingressAddr, plancheck.ResourceActionUpdate),
					// The gateway stays, so the plan already knows the new URL.
					plancheck.ExpectKnownValue(ingressAddr, tfjsonpath.New("inference_url"), knownvalue.StringExact(address+":8008")),
				}},
				Check: func(*terraform.State) error {
					if port := backendOf(it.get(it.spec().virtualServiceRef())); port != servingGRPCPort {
						return fmt.Errorf("route goes to port %d, want gRPC's %d", port, servingGRPCPort)
					}
					return nil
				},
			},
		},
	})
}

// A gateway that is missing or does not open the port fails before anything is created, saying what
// to do; a missing RAM permission on the kubeconfig names it.
func TestAccModelMeshIngress_failures(t *testing.T) {
	fake := acctest.SkipWithoutFake(t)
	gw := acctest.RandomName("gw")
	it := newIngressTest(t, acctest.IngressGateway{IngressGateway: localstack.IngressGateway{Name: gw, Ports: []int32{80, 443}}, Address: "192.0.2.11"})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             it.checkGone,
		Steps: []resource.TestStep{
			{
				Config:      it.config("no-such-gateway", ""),
				ExpectError: wrappedText("no ingress gateway", "istio-system/istio-no-such-gateway", "ASM Gateways > Ingress Gateway"),
			},
			{
				Config:      it.config(gw, ""),
				ExpectError: wrappedText("port 8008 is not open on the ingress gateway", "opens 80, 443"),
			},
			{
				PreConfig: func() {
					fake.InjectFault("DescribeServiceMeshKubeconfig", asmfake.Fault{Code: asmfake.CodeForbiddenRAM})
					t.Cleanup(fake.ClearFaults)
				},
				Config:      it.config(gw, `  port = 443`),
				ExpectError: wrappedText("No permission to reach the mesh's control plane", "servicemesh:DescribeServiceMeshKubeconfig"),
			},
			{
				PreConfig:   fake.ClearFaults,
				Config:      strings.Replace(it.config(gw, `  port = 443`), it.namespace, "not-in-the-mesh", 1),
				ExpectError: wrappedText(`The namespace "not-in-the-mesh" does not exist on the mesh's control plane`, "Global Namespace"),
			},
			{
				Config: it.config(gw, `  port = 443`),
				Check: func(*terraform.State) error {
					if _, err := it.controlPlane.Get(context.Background(), it.spec().gatewayRef()); err != nil {
						return err
					}
					return nil
				},
			},
		},
	})
}

// Bad input is refused at plan, offline, naming the attribute.
func TestModelMeshIngress_validation(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"protocol": {`protocol = "TCP"`, `protocol.*value must be one of`},
		"port":     {`port = 70000`, `port.*between 1 and 65535`},
		"hosts":    {`hosts = []`, `hosts.*at least 1`},
		"mesh":     {``, `mesh_id.*ASM instance ID`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			mesh := localstack.MeshID
			if name == "mesh" {
				mesh = "not-a-mesh"
			}
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:   fmt.Sprintf("resource \"asm_modelmesh_ingress\" \"x\" {\n  mesh_id = %q\n  %s\n}\n", mesh, c.body),
					PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)` + c.want),
				}},
			})
		})
	}
}

// Out-of-band changes on the control plane: an edit by another manager is drift that the next apply
// undoes only with force_conflicts (the Gateway's servers are an atomic list, which the other manager
// now owns), and a deleted VirtualService is created again, its Gateway taken back.
func TestAccModelMeshIngress_outOfBandChanges(t *testing.T) {
	gw := acctest.RandomName("gw")
	it := newIngressTest(t, acctest.IngressGateway{IngressGateway: localstack.IngressGateway{Name: gw, Ports: []int32{8008, 9000}}, Address: "192.0.2.12"})
	ctx := context.Background()
	otherPort := func() {
		g := it.spec().gatewayObject()
		g.Object["spec"] = map[string]any{"servers": []any{map[string]any{"hosts": []any{"*"},
			"port": map[string]any{"number": int64(9000), "name": "http-other", "protocol": "HTTP"}}}}
		if _, err := it.controlPlane.Apply(ctx, it.spec().gatewayRef(), g, kube.ApplyOptions{FieldManager: otherManager, Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	port := func(want int64) resource.TestCheckFunc {
		return func(*terraform.State) error {
			servers, _, _ := unstructured.NestedSlice(it.get(it.spec().gatewayRef()).Object, "spec", "servers")
			server, _ := servers[0].(map[string]any)
			got, _, _ := unstructured.NestedFieldNoCopy(server, "port", "number")
			if n, _ := toInt64(got); n != want {
				return fmt.Errorf("gateway port %v, want %d", got, want)
			}
			return nil
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             it.checkGone,
		Steps: []resource.TestStep{
			{Config: it.config(gw, "")},
			{
				PreConfig:          otherPort,
				Config:             it.config(gw, ""),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(ingressAddr, plancheck.ResourceActionUpdate),
				}},
			},
			{
				Config:      it.config(gw, ""),
				ExpectError: regexp.MustCompile(`(?s)conflict.*` + otherManager + `.*force_conflicts`),
			},
			{Config: it.config(gw, "  force_conflicts = true"), Check: port(8008)},
			{
				PreConfig: func() {
					if err := it.controlPlane.Delete(ctx, it.spec().virtualServiceRef()); err != nil {
						t.Fatal(err)
					}
				},
				Config: it.config(gw, "  force_conflicts = true"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(ingressAddr, plancheck.ResourceActionCreate),
				}},
				Check: func(*terraform.State) error {
					it.get(it.spec().virtualServiceRef())
					return nil
				},
			},
		},
	})
}

// A gateway whose load balancer gets no address within the timeout fails the apply, keeping the
// objects in state (tainted); once the address comes, the next apply replaces them and succeeds.
func TestAccModelMeshIngress_addressTimeout(t *testing.T) {
	gw := acctest.RandomName("gw")
	it := newIngressTest(t, acctest.IngressGateway{IngressGateway: localstack.IngressGateway{Name: gw, Ports: []int32{8008}}})
	config := strings.Replace(it.config(gw, ""), `create = "1m"`, `create = "3s"`, 1)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             it.checkGone,
		Steps: []resource.TestStep{
			{
				Config:      config,
				ExpectError: wrappedText("got no external address in time", "kubectl describe service istio-"+gw+" -n istio-system"),
			},
			{
				PreConfig: func() { acctest.SetGatewayAddress(t, gw, "192.0.2.13") },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(ingressAddr, plancheck.ResourceActionReplace),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ingressAddr, tfjsonpath.New("address"), knownvalue.StringExact("192.0.2.13")),
				},
			},
		},
	})
}

// The mesh's kubeconfig carries an admin client key: it is kept in memory only, never in state nor
// in the TRACE logs of the provider and the CLI.
func TestAccModelMeshIngress_noCredentialInLogsOrState(t *testing.T) {
	gw := acctest.RandomName("gw")
	it := newIngressTest(t, acctest.IngressGateway{IngressGateway: localstack.IngressGateway{Name: gw, Ports: []int32{8008}},
		Address: "192.0.2.14"})
	key := acctest.MeshAdminKey(t)
	secrets := map[string]string{
		"client key (base64, as in the kubeconfig)": base64.StdEncoding.EncodeToString(key),
		"client key (PEM)":                          strings.Split(strings.TrimSpace(string(key)), "\n")[1],
	}
	traceLog := acctest.TraceLog(t)
	noSecret := func(where, text string) error {
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				return fmt.Errorf("the mesh kubeconfig's %s is in %s", what, where)
			}
		}
		return nil
	}
	checkState := func(s *terraform.State) error {
		for addr, rs := range s.RootModule().Resources {
			for attr, value := range rs.Primary.Attributes {
				if err := noSecret(addr+"."+attr, value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
		CheckDestroy:             it.checkGone,
		Steps: []resource.TestStep{
			{Config: it.config(gw, ""), Check: checkState},
			{RefreshState: true, Check: checkState},
		},
	})
	log := traceLog()
	// The log must hold the provider's call for the kubeconfig, or its absence of the key proves nothing.
	if !strings.Contains(log, "DescribeServiceMeshKubeconfig") {
		t.Fatalf("the TRACE log (%d bytes) does not mention DescribeServiceMeshKubeconfig: the provider does not log to it", len(log))
	}
	if err := noSecret("the TRACE log", log); err != nil {
		t.Error(err)
	}
}
