package provider

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Fuzz targets for the parsers and validators that see user input before any API does. Each also
// runs as a normal test over its seed corpus; `go test -fuzz=FuzzX ./internal/provider` explores.

func FuzzParseNamespacedID(f *testing.F) {
	for _, seed := range []string{
		"modelmesh-serving/my-model-sample", "ns/a.b.c", "", "/", "ns/", "/name", "a/b/c", "NS/name",
		"ns/Name", "ns/name/", strings.Repeat("a", 64) + "/x", "ns/" + strings.Repeat("a", 254), "ns/-x", "ns/x-",
		"ns\x00/x", "ns/ünïcode", "a/b", "1/2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		namespace, name, err := parseNamespacedID(id)
		if err != nil {
			if namespace != "" || name != "" {
				t.Fatalf("rejected %q but returned parts %q, %q", id, namespace, name)
			}
			if !strings.Contains(err.Error(), "import id") {
				t.Fatalf("error for %q does not name the import id: %v", id, err)
			}
			return
		}
		// Accepted ids round-trip and satisfy the documented <namespace>/<name> form.
		if namespace+"/"+name != id {
			t.Fatalf("%q split into %q and %q, which do not join back", id, namespace, name)
		}
		if strings.Contains(name, "/") || strings.Contains(namespace, "/") {
			t.Fatalf("%q: a part contains a slash", id)
		}
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			t.Fatalf("%q: accepted namespace %q is not a DNS label: %v", id, namespace, errs)
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Fatalf("%q: accepted name %q is not a DNS subdomain: %v", id, name, errs)
		}
	})
}

// importID runs a resource's ImportState on an empty state of its schema, as Terraform does.
func importID(t *testing.T, r resource.Resource, id string) (tfsdk.State, bool) {
	t.Helper()
	ctx := context.Background()
	var schemaResp resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &schemaResp)
	if schemaResp.Diagnostics.HasError() {
		t.Fatalf("schema: %v", schemaResp.Diagnostics)
	}
	typ := schemaResp.Schema.Type().TerraformType(ctx)
	resp := resource.ImportStateResponse{State: tfsdk.State{Schema: schemaResp.Schema, Raw: tftypes.NewValue(typ, nil)}}
	importer, ok := r.(resource.ResourceWithImportState)
	if !ok {
		t.Fatalf("%T does not implement import", r)
	}
	importer.ImportState(ctx, resource.ImportStateRequest{ID: id}, &resp)
	return resp.State, !resp.Diagnostics.HasError()
}

func stateString(t *testing.T, s tfsdk.State, attribute string) string {
	t.Helper()
	var v types.String
	if diags := s.GetAttribute(context.Background(), path.Root(attribute), &v); diags.HasError() {
		t.Fatalf("reading %s: %v", attribute, diags)
	}
	return v.ValueString()
}

func FuzzClusterAttachmentImportID(f *testing.F) {
	for _, seed := range []string{
		"c0a1b2c3d4e5f60718293a4b5c6d7e8f9:c1234567890abcdef1234567890abcdef", "", ":", "c0a1b2c3d4e5f607:",
		":c0a1b2c3d4e5f607", "c0a1b2c3d4e5f607:c0a1b2c3d4e5f607:c0a1b2c3d4e5f607", "C0A1B2C3D4E5F607:c0a1b2c3d4e5f607",
		"c0a1b2c3d4e5f607/c0a1b2c3d4e5f607", "c0a1b2c3d4e5f607:c0a1b2c3d4e5f607\n", "x:y",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		state, ok := importID(t, NewClusterAttachmentResource(), id)
		if !ok {
			return
		}
		meshID, clusterID := stateString(t, state, "mesh_id"), stateString(t, state, "cluster_id")
		if got := stateString(t, state, "id"); got != id || attachmentID(meshID, clusterID) != id {
			t.Fatalf("import of %q: id %q, mesh_id %q, cluster_id %q do not round-trip", id, got, meshID, clusterID)
		}
		if !asmIDPattern.MatchString(meshID) || !asmIDPattern.MatchString(clusterID) {
			t.Fatalf("import of %q accepted ids that are not ASM ids: %q, %q", id, meshID, clusterID)
		}
	})
}

func FuzzModelStorageImportID(f *testing.F) {
	for _, seed := range []string{
		"modelmesh-serving/storage-config/localMinIO", "", "//", "a/b", "a/b/c/d", "a//c", "/b/c", "a/b/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		state, ok := importID(t, NewModelStorageResource(), id)
		if !ok {
			return
		}
		parts := []string{stateString(t, state, "namespace"), stateString(t, state, "secret_name"), stateString(t, state, "name")}
		if strings.Join(parts, "/") != id || stateString(t, state, "id") != id {
			t.Fatalf("import of %q gave %q, which does not round-trip", id, parts)
		}
		for _, p := range parts {
			if p == "" || strings.Contains(p, "/") {
				t.Fatalf("import of %q accepted an empty or slashed part: %q", id, parts)
			}
		}
	})
}

// validate runs a string validator as the framework does and reports whether it accepted s.
func validate(v validator.String, s string) bool {
	var resp validator.StringResponse
	v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(s)}, &resp)
	return !resp.Diagnostics.HasError()
}

func FuzzEndpointValidator(f *testing.F) {
	for _, seed := range []string{
		"port:8085", "port:8001", "port:0", "port:1", "port:65535", "port:65536", "port:-1", "port:", "port:+80",
		"port:0080", "port:99999999999999999999", "unix:/tmp/mlserver.sock", "unix:", "tcp:80", "8085", "", "port:80\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validate(endpoint(), s) {
			return
		}
		// Accepted values are `port:<1-65535>` or `unix:<path>`.
		if rest, ok := strings.CutPrefix(s, "port:"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || n > 65535 {
				t.Fatalf("accepted %q, whose port is not in 1-65535", s)
			}
			for _, c := range rest {
				if c < '0' || c > '9' {
					t.Fatalf("accepted %q, whose port is not all digits", s)
				}
			}
			return
		}
		if rest, ok := strings.CutPrefix(s, "unix:"); !ok || rest == "" {
			t.Fatalf("accepted %q, which is neither port:<n> nor unix:<path>", s)
		}
	})
}

func FuzzQuantity(f *testing.F) {
	for _, seed := range []string{
		"500m", "2", "1Gi", "1.5", "0.5Gi", "1e3", "1E3", "-1", "+1", "", "1Gib", "Gi", "1.", ".5", "1e", "12345678901234567890",
		"9223372036854775807", "0.000000001", "1n", "1Ki", "1k", "1K", " 1", "1 ", "1e-3", "100Mi",
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, s string) {
		accepted := validate(quantity(), s)
		q, err := parseQuantity(s)
		if accepted && err != nil {
			t.Fatalf("%q: the validator accepted what ParseQuantity rejects: %v", s, err)
		}
		if !accepted && err == nil {
			// Only a quantity Kubernetes would store as another amount may be refused.
			if back, backErr := k8sresource.ParseQuantity(q.String()); backErr == nil && back.Cmp(q) == 0 {
				t.Fatalf("%q: the validator refused a quantity that ParseQuantity accepts", s)
			}
		}
		// The type never panics, whatever arrives from Terraform.
		value, err := quantityType{}.ValueFromTerraform(ctx, tftypes.NewValue(tftypes.String, s))
		if err != nil {
			t.Fatalf("ValueFromTerraform(%q): %v", s, err)
		}
		v, ok := value.(quantityValue)
		if !ok {
			t.Fatalf("ValueFromTerraform(%q) returned %T", s, value)
		}
		if v.ValueString() != s {
			t.Fatalf("ValueFromTerraform(%q) changed the value to %q", s, v.ValueString())
		}
		self, diags := v.StringSemanticEquals(ctx, v)
		if diags.HasError() || !self {
			t.Fatalf("%q is not semantically equal to itself", s)
		}
		if !accepted {
			return
		}
		// An accepted quantity's canonical form parses back to the same amount, and the type treats
		// the two spellings as equal (so the API's canonicalisation never shows as a diff).
		canonical := q.String()
		back, err := k8sresource.ParseQuantity(canonical)
		if err != nil || back.Cmp(q) != 0 {
			t.Fatalf("%q: canonical form %q does not round-trip (%v)", s, canonical, err)
		}
		equal, diags := v.StringSemanticEquals(ctx, quantityValue{StringValue: types.StringValue(canonical)})
		if diags.HasError() || !equal {
			t.Fatalf("%q and its canonical form %q are not semantically equal", s, canonical)
		}
	})
}
