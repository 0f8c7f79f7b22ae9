package provider

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"k8s.io/client-go/rest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// resourceOnly are phrases of resource descriptions that are wrong for a read-only attribute: what
// to set, what setting does, the mlserver preset.
var resourceOnly = regexp.MustCompile(`\bRequired\b|\bOptional\b|Only the keys set here|Computed:|Changing it|\bpreset\b|` +
	`Exactly one of|Conflicts with|^(Keep|Turn|Set) `)

// Every read-only attribute of the object data sources, nested ones included, describes the
// object, not what configuring a resource takes.
func TestObjectDataSourceDescriptions(t *testing.T) {
	ctx := context.Background()
	for _, newDataSource := range []func() datasource.DataSource{
		NewInferenceServiceDataSource, NewInferenceServicesDataSource, NewServingRuntimeDataSource,
		NewServingRuntimesDataSource, NewClusterServingRuntimeDataSource, NewClusterServingRuntimesDataSource,
	} {
		ds := newDataSource()
		var meta datasource.MetadataResponse
		ds.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "asm"}, &meta)
		var resp datasource.SchemaResponse
		ds.Schema(ctx, datasource.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("%s: %v", meta.TypeName, resp.Diagnostics)
		}
		checked := checkReadOnlyDescriptions(t, meta.TypeName, resp.Schema.Attributes)
		if checked < 10 {
			t.Errorf("%s: only %d read-only attributes checked", meta.TypeName, checked)
		}
	}
}

func checkReadOnlyDescriptions(t *testing.T, at string, attrs map[string]dschema.Attribute) (checked int) {
	t.Helper()
	for name, a := range attrs {
		path := at + "." + name
		if a.IsComputed() && !a.IsOptional() {
			checked++
			if d := a.GetDescription(); d == "" || resourceOnly.MatchString(d) {
				t.Errorf("%s: description %q", path, d)
			}
		}
		switch a := a.(type) {
		case dschema.SingleNestedAttribute:
			checked += checkReadOnlyDescriptions(t, path, a.Attributes)
		case dschema.ListNestedAttribute:
			checked += checkReadOnlyDescriptions(t, path, a.NestedObject.Attributes)
		}
	}
	return checked
}

// A label selector the API server would refuse fails validation, before any request.
func TestObjectListDataSource_invalidLabelSelector(t *testing.T) {
	for _, typeName := range []string{"asm_inference_services", "asm_serving_runtimes", "asm_cluster_serving_runtimes"} {
		t.Run(typeName, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: acctest.ProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: acctest.ProviderConfigUnreachableKube() + "data \"" + typeName + "\" \"test\" {\n" +
						"  label_selector = \"team in (vision\"\n}\n",
					ExpectError: errorPattern(`label_selector must be a Kubernetes label selector .*team in \(vision`),
				}},
			})
		})
	}
}

// readDataSource runs one Read of ds, configured with data, for the arguments given.
func readDataSource(t *testing.T, ds datasource.DataSourceWithConfigure, data *providerData, args map[string]string) (tfsdk.State, diag.Diagnostics) {
	t.Helper()
	ctx := context.Background()
	var configured datasource.ConfigureResponse
	ds.Configure(ctx, datasource.ConfigureRequest{ProviderData: data}, &configured)
	var schema datasource.SchemaResponse
	ds.Schema(ctx, datasource.SchemaRequest{}, &schema)
	objectType, _ := schema.Schema.Type().TerraformType(ctx).(tftypes.Object)
	values := map[string]tftypes.Value{}
	for name, at := range objectType.AttributeTypes {
		if v, ok := args[name]; ok {
			values[name] = tftypes.NewValue(at, v)
		} else {
			values[name] = tftypes.NewValue(at, nil)
		}
	}
	config := tfsdk.Config{Schema: schema.Schema, Raw: tftypes.NewValue(objectType, values)}
	resp := datasource.ReadResponse{State: tfsdk.State{Schema: schema.Schema, Raw: config.Raw.Copy()}}
	ds.Read(ctx, datasource.ReadRequest{Config: config}, &resp)
	return resp.State, append(configured.Diagnostics, resp.Diagnostics...)
}

// TestAccObjectDataSources_oneRequest reads through a proxy that records what reaches the
// apiserver (kubernetes.host access): a read is one GET of the object or one LIST with the label
// selector, no discovery; a throttled LIST (429, as an apiserver under load answers) is retried.
func TestAccObjectDataSources_oneRequest(t *testing.T) {
	acctest.PreCheck(t)
	cluster := acctest.LocalCluster(t)
	ns := acctest.CreateNamespace(t, "onereq")
	createRuntimeObject(t, testRuntime(ns, "custom", "my-model"))
	var mu sync.Mutex
	var requests []string
	proxy, err := testcluster.StartProxy(cluster.RESTConfig(), func(r *http.Request, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proxy.Close(); err != nil {
			t.Error(err)
		}
	})
	client, err := kube.New(&rest.Config{Host: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	data := &providerData{namespace: ns}
	data.kubeOnce.Do(func() { data.kube = client })
	collection := "/apis/serving.kserve.io/v1alpha1/namespaces/" + ns + "/servingruntimes"
	throttled := &testcluster.Fault{Match: isRequest(http.MethodGet, "servingruntimes"), Code: http.StatusTooManyRequests, Times: 1}
	for _, tc := range []struct {
		name      string
		ds        datasource.DataSourceWithConfigure
		args      map[string]string
		fault     *testcluster.Fault
		requests  []string
		wantError string
		want      func(tfsdk.State) error
	}{
		{
			name: "get in the provider's namespace", ds: &objectDataSource{objectData: runtimeObjectData(kube.ServingRuntime, "_serving_runtime")}, args: map[string]string{"name": "custom"},
			requests: []string{"GET " + collection + "/custom?"},
			want:     attributeIs("namespace", types.StringValue(ns)),
		},
		{
			name: "missing", ds: &objectDataSource{objectData: runtimeObjectData(kube.ServingRuntime, "_serving_runtime")}, args: map[string]string{"name": "no-such-runtime"},
			requests:  []string{"GET " + collection + "/no-such-runtime?"},
			wantError: `ServingRuntime "no-such-runtime" in namespace "` + ns + `" not found`,
		},
		{
			name: "list throttled once", ds: &objectListDataSource{objectData: runtimeObjectData(kube.ServingRuntime, "_serving_runtime")}, args: map[string]string{"label_selector": "team!=vision"},
			fault: throttled,
			// The proxy answers the 429 itself: the apiserver sees only the retry.
			requests: []string{"GET " + collection + "?labelSelector=team%21%3Dvision"},
			want: func(state tfsdk.State) error {
				var items []types.Object
				if diags := state.GetAttribute(context.Background(), path.Root("items"), &items); diags.HasError() {
					return fmt.Errorf("%v", diags)
				}
				if len(items) != 1 || !items[0].Attributes()["name"].Equal(types.StringValue("custom")) {
					return fmt.Errorf("items %v, want custom alone", items)
				}
				return nil
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			requests = nil
			mu.Unlock()
			if tc.fault != nil {
				proxy.Inject(tc.fault)
			}
			state, diags := readDataSource(t, tc.ds, data, tc.args)
			switch {
			case tc.wantError != "" && !strings.Contains(fmt.Sprint(diags), tc.wantError):
				t.Errorf("diagnostics %v, want %q", diags, tc.wantError)
			case tc.wantError == "" && diags.HasError():
				t.Fatal(diags)
			case tc.want != nil:
				if err := tc.want(state); err != nil {
					t.Error(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(requests, tc.requests) {
				t.Errorf("requests %q, want %q", requests, tc.requests)
			}
			if tc.fault != nil && proxy.Served(tc.fault) != tc.fault.Times {
				t.Errorf("fault served %d times, want %d", proxy.Served(tc.fault), tc.fault.Times)
			}
		})
	}
}

// attributeIs checks a string attribute of a read.
func attributeIs(name string, want types.String) func(tfsdk.State) error {
	return func(state tfsdk.State) error {
		var got types.String
		if diags := state.GetAttribute(context.Background(), path.Root(name), &got); diags.HasError() {
			return fmt.Errorf("%v", diags)
		}
		if !got.Equal(want) {
			return fmt.Errorf("%s = %s, want %s", name, got, want)
		}
		return nil
	}
}
