package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Every protocol and TLS combination reads back from the objects it builds as it was set (what
// drift detection and import rely on), and gives the URLs a client needs.
func TestModelMeshIngressObjectsRoundTrip(t *testing.T) {
	cases := []struct {
		protocol, tls, address     string
		wantURL, wantTemplate      string
		wantServer, wantBackendFor int64
	}{
		{protocolHTTP, "", "192.0.2.1", "http://192.0.2.1:8008", "http://192.0.2.1:8008/v2/models/%s/infer", 8008, servingRESTPort},
		{protocolGRPC, "", "lb.example.com", "lb.example.com:8008", "", 8008, servingGRPCPort},
		{protocolHTTP, "cert", "2001:db8::1", "https://[2001:db8::1]:8008", "https://[2001:db8::1]:8008/v2/models/%s/infer", 8008, servingRESTPort},
		{protocolGRPC, "cert", "192.0.2.1", "192.0.2.1:8008", "", 8008, servingGRPCPort},
	}
	for _, c := range cases {
		t.Run(c.protocol+"/"+c.tls, func(t *testing.T) {
			spec := ingressSpec{name: "mm", namespace: "ns", gatewayName: "gw", protocol: c.protocol, tlsCredential: c.tls,
				port: 8008, hosts: []string{"a.example.com", "*"}}
			// Through JSON, as the apiserver answers: numbers come back as int64 or float64.
			gateway, vs := roundTrip(t, spec.gatewayObject()), roundTrip(t, spec.virtualServiceObject())
			if got := backendOf(vs); got != c.wantBackendFor {
				t.Errorf("route to %d, want %d", got, c.wantBackendFor)
			}
			var m modelMeshIngressModel
			if err := m.readIngress(gateway, vs); err != nil {
				t.Fatal(err)
			}
			var hosts []string
			m.Hosts.ElementsAs(context.Background(), &hosts, false)
			if m.Protocol.ValueString() != c.protocol || m.Port.ValueInt64() != 8008 || m.GatewayName.ValueString() != "gw" ||
				m.TLSCredentialName.ValueString() != c.tls || strings.Join(hosts, ",") != "a.example.com,*" {
				t.Errorf("read back %+v", m)
			}
			m.setURLs(types.StringValue(c.address))
			if m.InferenceURL.ValueString() != c.wantURL || m.ModelURLTemplate.ValueString() != c.wantTemplate {
				t.Errorf("URLs %q, %q; want %q, %q", m.InferenceURL.ValueString(), m.ModelURLTemplate.ValueString(), c.wantURL, c.wantTemplate)
			}
		})
	}
}

func roundTrip(t *testing.T, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	raw, err := obj.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	out := &unstructured.Unstructured{}
	if err := runtime.DecodeInto(unstructured.UnstructuredJSONScheme, raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A gateway that cannot carry the route says why; one that can has its address read as an IP or,
// without one, a hostname.
func TestCheckGateway(t *testing.T) {
	service := func(typ string, ports ...int64) *unstructured.Unstructured {
		list := []any{}
		for _, p := range ports {
			list = append(list, map[string]any{"port": p})
		}
		return &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"type": typ, "ports": list}}}
	}
	for name, c := range map[string]struct {
		svc  *unstructured.Unstructured
		want string
	}{
		"missing":   {nil, "no ingress gateway"},
		"port":      {service("LoadBalancer", 80, 443), "port 8008 is not open on the ingress gateway \"gw\" (Service istio-system/istio-gw opens 80, 443)"},
		"clusterIP": {service("ClusterIP", 8008), "Service type \"ClusterIP\""},
		"ok":        {service("LoadBalancer", 8008), ""},
	} {
		err := checkGateway(c.svc, "gw", 8008)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	svc := service("LoadBalancer", 8008)
	if got := gatewayAddress(svc); got != "" {
		t.Errorf("no status: address %q", got)
	}
	svc.Object["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"hostname": "lb.example.com"}}}}
	if got := gatewayAddress(svc); got != "lb.example.com" {
		t.Errorf("hostname: address %q", got)
	}
}
