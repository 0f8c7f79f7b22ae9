package localstack

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// StartMeshControlPlane starts the control plane of MeshID (a kube-apiserver with Istio's CRDs),
// has the ASM fake's DescribeServiceMeshKubeconfig hand out its kubeconfig, and creates the
// ServingNamespace on it, as ASM's ModelMesh guide has the user do. Stop stops it.
func (s *Stack) StartMeshControlPlane(ctx context.Context) (*testcluster.MeshControlPlane, error) {
	plane, err := testcluster.StartMeshControlPlane(ctx)
	if err != nil {
		return nil, err
	}
	s.meshControlPlane = plane
	config, err := plane.Kubeconfig()
	if err != nil {
		return nil, err
	}
	if err := CreateNamespace(ctx, plane.RESTConfig(), ServingNamespace); err != nil {
		return nil, err
	}
	s.ASM.SetControlPlane(MeshID, asmfake.ControlPlane{Public: config, Intranet: config})
	return plane, nil
}

// CreateNamespace creates a namespace; one that exists already is fine.
func CreateNamespace(ctx context.Context, cfg *rest.Config, name string) error {
	clients, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// IngressGateway is an ASM ingress gateway as the data-plane cluster sees it: ASM deploys the gateway
// <Name> as the Service istio-system/istio-<Name> whose Pods carry istio=<Name>, of type LoadBalancer
// by default (ASM console, "Create an ingress gateway"; the ModelMesh guide's gateway "ingressgateway"
// with port 8008 open).
type IngressGateway struct {
	Name  string
	Ports []int32
	// Type defaults to LoadBalancer.
	Type corev1.ServiceType
}

// DefaultIngressGateway is the gateway of ASM's ModelMesh guide.
var DefaultIngressGateway = IngressGateway{Name: "ingressgateway", Ports: []int32{80, 443, 8008}}

// GatewayNamespace is where ASM deploys its gateways.
const GatewayNamespace = "istio-system"

// CreateIngressGateway creates the gateway's Service (and its namespace) in the cluster.
func CreateIngressGateway(ctx context.Context, cfg *rest.Config, g IngressGateway) error {
	if err := CreateNamespace(ctx, cfg, GatewayNamespace); err != nil {
		return err
	}
	clients, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "istio-" + g.Name, Namespace: GatewayNamespace, Labels: map[string]string{"istio": g.Name}},
		Spec:       corev1.ServiceSpec{Type: g.Type, Selector: map[string]string{"istio": g.Name}},
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	}
	for _, p := range g.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("port-%d", p), Port: p,
			TargetPort: intstr.FromInt32(p), Protocol: corev1.ProtocolTCP})
	}
	if _, err := clients.CoreV1().Services(GatewayNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the ingress gateway's Service: %w", err)
	}
	return nil
}

// SetGatewayAddress writes address into the gateway Service's load-balancer status after delay, as
// Alibaba Cloud's cloud controller does once the gateway's CLB exists: the local cluster runs no
// cloud controller, so nothing else ever writes it.
func SetGatewayAddress(ctx context.Context, cfg *rest.Config, gatewayName, address string, delay time.Duration) error {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	clients, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	services := clients.CoreV1().Services(GatewayNamespace)
	svc, err := services.Get(ctx, "istio-"+gatewayName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return errors.New("only a LoadBalancer Service gets a load-balancer address")
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: address}}
	_, err = services.UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	return err
}
