package provider

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The Istio objects of asm_modelmesh_ingress, as ASM's ModelMesh guide ("Deploy a multi-model
// inference service with ModelMesh", step "configure the networking") has the user write them: a
// Gateway on the mesh's ingress gateway (default "ingressgateway", port 8008) and a VirtualService
// routing that port to ModelMesh's serving Service, both in the serving namespace of the mesh's
// control plane.

const (
	// servingServiceName and its ports are the ModelMesh Serving controller's defaults (v0.12.0:
	// inferenceServiceName "modelmesh-serving", gRPC port 8033, restProxy.port 8008, see
	// shared/reference/modelmesh-controller/config-defaults.yaml).
	servingServiceName = "modelmesh-serving"
	servingGRPCPort    = 8033
	servingRESTPort    = 8008

	protocolHTTP = "HTTP"
	protocolGRPC = "GRPC"
	// protocolHTTPS is the Gateway server's protocol when it terminates TLS, for HTTP and gRPC alike.
	protocolHTTPS = "HTTPS"
)

// ingressSpec is what the two objects are made of.
type ingressSpec struct {
	name, namespace, gatewayName, protocol, tlsCredential string
	port                                                  int64
	hosts                                                 []string
}

func (m *modelMeshIngressModel) spec(ctx context.Context, diags *diag.Diagnostics) ingressSpec {
	s := ingressSpec{
		name: m.Name.ValueString(), namespace: m.Namespace.ValueString(), gatewayName: m.GatewayName.ValueString(),
		protocol: m.Protocol.ValueString(), tlsCredential: m.TLSCredentialName.ValueString(), port: m.Port.ValueInt64(),
	}
	diags.Append(m.Hosts.ElementsAs(ctx, &s.hosts, false)...)
	return s
}

// backendPort is the serving Service's port for the protocol: the REST proxy for HTTP, model-mesh's
// own gRPC port for gRPC.
func (s ingressSpec) backendPort() int64 {
	if s.protocol == protocolGRPC {
		return servingGRPCPort
	}
	return servingRESTPort
}

func (s ingressSpec) gatewayRef() kube.Ref {
	return kube.Ref{Kind: kube.IstioGateway, Namespace: s.namespace, Name: s.name}
}

func (s ingressSpec) virtualServiceRef() kube.Ref {
	return kube.Ref{Kind: kube.IstioVirtualService, Namespace: s.namespace, Name: s.name}
}

func stringsAny(in []string) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

// gatewayObject selects the ingress gateway's Pods by the label ASM gives them, istio=<gateway
// name> (the guide's Gateway selects istio: ingressgateway for the gateway "ingressgateway").
func (s ingressSpec) gatewayObject() *unstructured.Unstructured {
	protocol, portName := s.protocol, "http-modelmesh"
	if s.protocol == protocolGRPC {
		portName = "grpc-modelmesh"
	}
	server := map[string]any{"hosts": stringsAny(s.hosts)}
	if s.tlsCredential != "" {
		protocol, portName = protocolHTTPS, "https-modelmesh"
		server["tls"] = map[string]any{"mode": "SIMPLE", "credentialName": s.tlsCredential}
	}
	server["port"] = map[string]any{"number": s.port, "name": portName, "protocol": protocol}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.IstioGateway.APIVersion(), "kind": kube.IstioGateway.Kind,
		"metadata": map[string]any{"name": s.name, "namespace": s.namespace},
		"spec": map[string]any{
			"selector": map[string]any{"istio": s.gatewayName},
			"servers":  []any{server},
		},
	}}
}

func (s ingressSpec) virtualServiceObject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.IstioVirtualService.APIVersion(), "kind": kube.IstioVirtualService.Kind,
		"metadata": map[string]any{"name": s.name, "namespace": s.namespace},
		"spec": map[string]any{
			"gateways": []any{s.name},
			"hosts":    stringsAny(s.hosts),
			"http": []any{map[string]any{
				"name":  "modelmesh-serving",
				"match": []any{map[string]any{"port": s.port}},
				"route": []any{map[string]any{"destination": map[string]any{
					"host": servingServiceName + "." + s.namespace + ".svc.cluster.local",
					"port": map[string]any{"number": s.backendPort()},
				}}},
			}},
		},
	}}
}

// readIngress refreshes the model's configurable attributes from the live objects, so that an edit
// made outside Terraform shows as drift (and import fills them).
func (m *modelMeshIngressModel) readIngress(gateway, virtualService *unstructured.Unstructured) error {
	servers, _, _ := unstructured.NestedSlice(gateway.Object, "spec", "servers")
	if len(servers) == 0 {
		return fmt.Errorf("gateway %s/%s has no servers", gateway.GetNamespace(), gateway.GetName())
	}
	server, _ := servers[0].(map[string]any)
	selector, _, _ := unstructured.NestedString(gateway.Object, "spec", "selector", "istio")
	m.GatewayName = types.StringValue(selector)
	number, _, _ := unstructured.NestedFieldNoCopy(server, "port", "number")
	port, err := toInt64(number)
	if err != nil {
		return fmt.Errorf("gateway %s/%s: port number: %w", gateway.GetNamespace(), gateway.GetName(), err)
	}
	m.Port = types.Int64Value(port)
	hosts, _, _ := unstructured.NestedStringSlice(server, "hosts")
	m.Hosts, _ = types.ListValueFrom(context.Background(), types.StringType, hosts)
	credential, _, _ := unstructured.NestedString(server, "tls", "credentialName")
	m.TLSCredentialName = types.StringNull()
	if credential != "" {
		m.TLSCredentialName = types.StringValue(credential)
	}
	// The protocol is the Gateway server's, or with TLS the backend the route goes to.
	protocol, _, _ := unstructured.NestedString(server, "port", "protocol")
	if protocol == protocolHTTPS {
		protocol = protocolHTTP
		if backendOf(virtualService) == servingGRPCPort {
			protocol = protocolGRPC
		}
	}
	m.Protocol = types.StringValue(protocol)
	return nil
}

// backendOf is the port the VirtualService's first route goes to, 0 if none.
func backendOf(vs *unstructured.Unstructured) int64 {
	routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	if len(routes) == 0 {
		return 0
	}
	route, _ := routes[0].(map[string]any)
	destinations, _, _ := unstructured.NestedSlice(route, "route")
	if len(destinations) == 0 {
		return 0
	}
	destination, _ := destinations[0].(map[string]any)
	number, _, _ := unstructured.NestedFieldNoCopy(destination, "destination", "port", "number")
	port, _ := toInt64(number)
	return port
}

func toInt64(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case float64:
		return int64(n), nil
	case int:
		return int64(n), nil
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// setURLs fills inference_url and model_url_template from the gateway's address; a null address
// makes them null.
func (m *modelMeshIngressModel) setURLs(address types.String) {
	m.Address = address
	m.InferenceURL, m.ModelURLTemplate = types.StringNull(), types.StringNull()
	if address.IsNull() || address.IsUnknown() {
		if address.IsUnknown() {
			m.InferenceURL, m.ModelURLTemplate = types.StringUnknown(), types.StringUnknown()
		}
		return
	}
	hostPort := net.JoinHostPort(address.ValueString(), strconv.FormatInt(m.Port.ValueInt64(), 10))
	if m.Protocol.ValueString() == protocolGRPC {
		// What grpcurl and gRPC clients take; the model is named in the request (KServe v2 gRPC).
		m.InferenceURL = types.StringValue(hostPort)
		return
	}
	scheme := "http"
	if !m.TLSCredentialName.IsNull() && m.TLSCredentialName.ValueString() != "" {
		scheme = "https"
	}
	m.InferenceURL = types.StringValue(scheme + "://" + hostPort)
	// KServe's v2 REST inference path, which ModelMesh's REST proxy serves; %s takes the model
	// (InferenceService) name, for format().
	m.ModelURLTemplate = types.StringValue(scheme + "://" + hostPort + "/v2/models/%s/infer")
}
