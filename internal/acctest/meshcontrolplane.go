package acctest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// The ASM control plane of MeshID, started on first use: only the tests that need it pay for it.
// The stack stops it.
var meshControlPlane struct {
	once  sync.Once
	plane *testcluster.MeshControlPlane
	err   error
}

// MeshControlPlane returns a client of the control plane that the fake's DescribeServiceMeshKubeconfig
// hands out for MeshID, starting it on first use. It skips the test against real ASM.
func MeshControlPlane(t *testing.T) *kube.Client {
	t.Helper()
	SkipWithoutFake(t)
	meshControlPlane.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		meshControlPlane.plane, meshControlPlane.err = env.stack.StartMeshControlPlane(ctx)
	})
	if meshControlPlane.err != nil {
		t.Fatalf("starting the mesh control plane: %v", meshControlPlane.err)
	}
	client, err := kube.New(meshControlPlane.plane.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// CreateMeshNamespace creates a namespace on MeshID's control plane (in ASM, a namespace of the
// mesh), where the Istio objects of a ModelMesh serving namespace of the same name live.
func CreateMeshNamespace(t *testing.T, name string) {
	t.Helper()
	MeshControlPlane(t)
	if err := localstack.CreateNamespace(context.Background(), meshControlPlane.plane.RESTConfig(), name); err != nil {
		t.Fatal(err)
	}
}

// IngressGateway is an ASM ingress gateway's Service in the data-plane cluster.
type IngressGateway struct {
	localstack.IngressGateway
	// Address, when set, is written to the Service's load-balancer status after AddressDelay.
	Address      string
	AddressDelay time.Duration
}

// CreateIngressGateway creates the gateway's Service in the local cluster, removed when the test ends.
func CreateIngressGateway(t *testing.T, g IngressGateway) {
	t.Helper()
	cfg := LocalCluster(t).RESTConfig()
	ctx := context.Background()
	if err := localstack.CreateIngressGateway(ctx, cfg, g.IngressGateway); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Kube(t).Delete(ctx, gatewayService(g.Name)); err != nil {
			t.Errorf("removing the gateway's Service: %v", err)
		}
	})
	if g.Address == "" {
		return
	}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		if err := localstack.SetGatewayAddress(ctx, cfg, g.Name, g.Address, g.AddressDelay); err != nil {
			t.Errorf("setting the gateway's load-balancer address: %v", err)
		}
	}()
}

// SetGatewayAddress writes the address into the gateway Service's load-balancer status now.
func SetGatewayAddress(t *testing.T, gatewayName, address string) {
	t.Helper()
	if err := localstack.SetGatewayAddress(context.Background(), LocalCluster(t).RESTConfig(), gatewayName, address, 0); err != nil {
		t.Fatal(err)
	}
}

func gatewayService(gatewayName string) kube.Ref {
	return kube.Ref{Kind: kube.Service, Namespace: localstack.GatewayNamespace, Name: "istio-" + gatewayName}
}

// MeshAdminKey is the client key in the kubeconfig DescribeServiceMeshKubeconfig hands out for
// MeshID, for tests that check it never leaks.
func MeshAdminKey(t *testing.T) []byte {
	t.Helper()
	MeshControlPlane(t)
	return meshControlPlane.plane.RESTConfig().KeyData
}
