package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The ingress gateway's address. ASM deploys a gateway named <name> into the data-plane cluster as
// the Service istio-<name> in istio-system (the default "ingressgateway" is istio-ingressgateway,
// whose address ASM's guides read with `kubectl get svc istio-ingressgateway -n istio-system`), of
// type LoadBalancer by default; Alibaba Cloud's cloud controller writes the CLB/NLB address into its
// status once the load balancer exists. ASM's DescribeIngressGateways documents no field of its
// answer beyond ClusterId, so the address is read where Kubernetes documents it instead.

const gatewayNamespace = "istio-system"

func gatewayServiceRef(gatewayName string) kube.Ref {
	return kube.Ref{Kind: kube.Service, Namespace: gatewayNamespace, Name: "istio-" + gatewayName}
}

// errNoGateway is the data-plane cluster having no Service for the gateway.
var errNoGateway = errors.New("no ingress gateway")

// checkGateway says why the gateway Service cannot carry the route, or nil. A nil svc is a missing one.
func checkGateway(svc *unstructured.Unstructured, gatewayName string, port int64) error {
	ref := gatewayServiceRef(gatewayName)
	if svc == nil {
		return fmt.Errorf("%w: the data-plane cluster has no Service %s/%s, so the mesh has no ingress gateway %q. "+
			"Create it first (ASM console: ASM Gateways > Ingress Gateway > Create, name %q, with port %d), or set "+
			"gateway_name to an existing gateway", errNoGateway, ref.Namespace, ref.Name, gatewayName, gatewayName, port)
	}
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	open := make([]int64, 0, len(ports))
	for _, p := range ports {
		entry, _ := p.(map[string]any)
		if n, err := toInt64(entry["port"]); err == nil {
			open = append(open, n)
		}
	}
	if !slices.Contains(open, port) {
		return fmt.Errorf("port %d is not open on the ingress gateway %q (Service %s/%s opens %s). Add it to the "+
			"gateway (ASM console: ASM Gateways > Ingress Gateway > %s > port mapping, or the IstioGateway's spec.ports), "+
			"or set port to one of those", port, gatewayName, ref.Namespace, ref.Name, formatPorts(open), gatewayName)
	}
	if t, _, _ := unstructured.NestedString(svc.Object, "spec", "type"); t != "LoadBalancer" {
		return fmt.Errorf("the ingress gateway %q has Service type %q, which gets no external address: only a "+
			"LoadBalancer gateway is reachable from outside the cluster. Change its service type in ASM "+
			"(ASM Gateways > Ingress Gateway), or use another gateway", gatewayName, t)
	}
	return nil
}

func formatPorts(ports []int64) string {
	if len(ports) == 0 {
		return "no ports"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

// gatewayAddress is the first address in the Service's load-balancer status: an IP, else a
// hostname; "" while the load balancer has none yet.
func gatewayAddress(svc *unstructured.Unstructured) string {
	ingress, _, _ := unstructured.NestedSlice(svc.Object, "status", "loadBalancer", "ingress")
	for _, i := range ingress {
		entry, _ := i.(map[string]any)
		if ip, _ := entry["ip"].(string); ip != "" {
			return ip
		}
		if host, _ := entry["hostname"].(string); host != "" {
			return host
		}
	}
	return ""
}

// waitGatewayAddress watches the gateway Service until its load balancer has an address.
func waitGatewayAddress(ctx context.Context, client *kube.Client, gatewayName string, port int64) (string, error) {
	var address string
	_, err := client.WaitFor(ctx, gatewayServiceRef(gatewayName), func(svc *unstructured.Unstructured) (bool, error) {
		if err := checkGateway(svc, gatewayName, port); err != nil {
			return false, err
		}
		address = gatewayAddress(svc)
		return address != "", nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		ref := gatewayServiceRef(gatewayName)
		return "", fmt.Errorf("the ingress gateway %q got no external address in time: its Service %s/%s has no "+
			"load-balancer address yet. Check its events (kubectl describe service %s -n %s) for the load "+
			"balancer's creation, or raise the timeout in the resource's timeouts block: %w",
			gatewayName, ref.Namespace, ref.Name, ref.Name, ref.Namespace, err)
	}
	return address, err
}
