package acctest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// The ASM control plane of MeshID: a second kube-apiserver with Istio's CRDs, started on first use
// (only the tests that need it pay for it) and stopped when the package's tests end.
var meshControlPlane struct {
	once  sync.Once
	plane *testcluster.MeshControlPlane
	err   error
}

// stopMeshControlPlane stops the control plane if a test started it.
func stopMeshControlPlane() {
	if meshControlPlane.plane != nil {
		_ = meshControlPlane.plane.Stop()
	}
}

// MeshControlPlane returns a client of the control plane that the fake's DescribeServiceMeshKubeconfig
// hands out for MeshID, starting it on first use. It skips the test against real ASM.
func MeshControlPlane(t *testing.T) *kube.Client {
	t.Helper()
	fake := SkipWithoutFake(t)
	meshControlPlane.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		plane, err := testcluster.StartMeshControlPlane(ctx)
		if err != nil {
			meshControlPlane.err = err
			return
		}
		config, err := plane.Kubeconfig()
		if err != nil {
			meshControlPlane.err = err
			return
		}
		fake.SetControlPlane(localstack.MeshID, asmfake.ControlPlane{Public: config, Intranet: config})
		meshControlPlane.plane = plane
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

// IngressGateway is an ASM ingress gateway's Service in the data-plane cluster, as ASM deploys it.
type IngressGateway struct {
	// Name is the gateway's: its Service is istio-system/istio-<Name>.
	Name  string
	Ports []int32
	// Type defaults to LoadBalancer, ASM's default.
	Type corev1.ServiceType
	// Address, when set, is written to the Service's load-balancer status after AddressDelay, as
	// Alibaba Cloud's cloud controller does once the CLB exists (the local cluster runs no cloud
	// controller, so nothing else ever writes it).
	Address      string
	AddressDelay time.Duration
}

// CreateIngressGateway creates the gateway's Service (and istio-system) in the data-plane cluster;
// the Service is removed when the test ends.
func CreateIngressGateway(t *testing.T, g IngressGateway) {
	t.Helper()
	clients := newClient(t, kubernetes.NewForConfig)
	ctx := context.Background()
	if err := LocalCluster(t).CreateNamespace(ctx, "istio-system", nil); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-" + g.Name, Namespace: "istio-system",
			Labels: map[string]string{"istio": g.Name}},
		Spec: corev1.ServiceSpec{Type: g.Type, Selector: map[string]string{"istio": g.Name}},
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	}
	for _, p := range g.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("port-%d", p),
			Port: p, TargetPort: intstr.FromInt32(p), Protocol: corev1.ProtocolTCP})
	}
	services := clients.CoreV1().Services("istio-system")
	created, err := services.Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = services.Delete(context.Background(), svc.Name, metav1.DeleteOptions{}) })
	if g.Address == "" {
		return
	}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		time.Sleep(g.AddressDelay)
		setGatewayAddress(t, services, created.Name, g.Address)
	}()
}

// CreateMeshNamespace creates a namespace on MeshID's control plane (in ASM, a namespace of the
// mesh), where the Istio objects of a ModelMesh serving namespace of the same name live.
func CreateMeshNamespace(t *testing.T, name string) {
	t.Helper()
	MeshControlPlane(t)
	clients, err := kubernetes.NewForConfig(meshControlPlane.plane.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = clients.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// SetGatewayAddress writes the address into the gateway Service's load-balancer status now, as the
// cloud controller does once the load balancer exists.
func SetGatewayAddress(t *testing.T, gatewayName, address string) {
	t.Helper()
	setGatewayAddress(t, newClient(t, kubernetes.NewForConfig).CoreV1().Services("istio-system"), "istio-"+gatewayName, address)
}

func setGatewayAddress(t *testing.T, services typedcorev1.ServiceInterface, name, address string) {
	ctx := context.Background()
	svc, err := services.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: address}}
		_, err = services.UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Errorf("setting the gateway's load-balancer address: %v", err)
	}
}
