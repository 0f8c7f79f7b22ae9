package provider

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// asm_modelmesh_ingress exposes ModelMesh's serving Service through the mesh's ingress gateway, as
// ASM's ModelMesh guide does by hand: named for what a user searches ("ingress", as in Kubernetes
// Ingress and ASM's "ingress gateway"), not for the two Istio kinds it writes.

var (
	_ resource.ResourceWithConfigure   = &modelMeshIngressResource{}
	_ resource.ResourceWithImportState = &modelMeshIngressResource{}
	_ resource.ResourceWithModifyPlan  = &modelMeshIngressResource{}
)

func NewModelMeshIngressResource() resource.Resource { return &modelMeshIngressResource{} }

type modelMeshIngressResource struct {
	configuredResource
}

type modelMeshIngressModel struct {
	ID                types.String   `tfsdk:"id"`
	MeshID            types.String   `tfsdk:"mesh_id"`
	PrivateEndpoint   types.Bool     `tfsdk:"private_endpoint"`
	Name              types.String   `tfsdk:"name"`
	Namespace         types.String   `tfsdk:"namespace"`
	GatewayName       types.String   `tfsdk:"gateway_name"`
	Port              types.Int64    `tfsdk:"port"`
	Protocol          types.String   `tfsdk:"protocol"`
	Hosts             types.List     `tfsdk:"hosts"`
	TLSCredentialName types.String   `tfsdk:"tls_credential_name"`
	ForceConflicts    types.Bool     `tfsdk:"force_conflicts"`
	Address           types.String   `tfsdk:"address"`
	InferenceURL      types.String   `tfsdk:"inference_url"`
	ModelURLTemplate  types.String   `tfsdk:"model_url_template"`
	Timeouts          timeouts.Value `tfsdk:"timeouts"`
}

const (
	defaultIngressName   = "modelmesh-serving"
	defaultGatewayName   = "ingressgateway"
	defaultGatewayPort   = 8008
	ingressApplyTimeout  = 10 * time.Minute
	ingressDeleteTimeout = 5 * time.Minute
	meshKubeconfigAction = "servicemesh:DescribeServiceMeshKubeconfig"
)

func (r *modelMeshIngressResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_modelmesh_ingress"
}

func (r *modelMeshIngressResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "Exposes ModelMesh's serving Service (`modelmesh-serving`: the REST proxy on 8008, gRPC on 8033) outside " +
			"the cluster through the mesh's ingress gateway, as ASM's ModelMesh guide does by hand: an Istio `Gateway` and " +
			"`VirtualService` on the ASM control plane, reached with the provider's Alibaba Cloud credentials alone (ASM's " +
			"`DescribeServiceMeshKubeconfig`), and the gateway's external address with the URLs to call. Waits until the " +
			"gateway has an address.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "`<mesh_id>:<namespace>/<name>`.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"mesh_id": schema.StringAttribute{
				Required: true,
				Description: "ID of the ASM instance. Its control plane's kubeconfig is fetched with " +
					"`DescribeServiceMeshKubeconfig`, which needs the RAM permission `" + meshKubeconfigAction + "`. Changing it " +
					"replaces the objects.",
				Validators:    []validator.String{asmIDValidator("ASM instance")},
				PlanModifiers: replace,
			},
			"private_endpoint": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Reach the mesh's control plane at its internal (VPC) API server endpoint instead of its public " +
					"one (`PrivateIpAddress`). Defaults to `false`.",
			},
			"name": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(defaultIngressName),
				Description:   "Name of the Gateway and of the VirtualService. Defaults to `" + defaultIngressName + "`. Changing it replaces them.",
				Validators:    []validator.String{dnsSubdomain()},
				PlanModifiers: replace,
			},
			"namespace": namespaceAttribute("Gateway and VirtualService, on the control plane, and of ModelMesh's serving "+
				"Service they route to", "replaces them"),
			"gateway_name": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(defaultGatewayName),
				Description: "Name of the ASM ingress gateway: its Pods carry the label `istio=<gateway_name>`, its Service is " +
					"`istio-system/istio-<gateway_name>` in the data-plane cluster. Defaults to `" + defaultGatewayName + "`, " +
					"ASM's default and its ModelMesh guide's.",
				Validators: []validator.String{dnsLabel()},
			},
			"port": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(defaultGatewayPort),
				Description: "Port of the ingress gateway the model is served on; the gateway must open it. Defaults to 8008, " +
					"as in ASM's ModelMesh guide.",
				Validators: []validator.Int64{int64validator.Between(1, 65535)},
			},
			"protocol": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(protocolHTTP),
				Description: "`HTTP` (the default) routes to ModelMesh's REST proxy (KServe v2 REST, port 8008); `GRPC` to " +
					"model-mesh's gRPC port (KServe v2 gRPC, 8033).",
				Validators: []validator.String{stringvalidator.OneOf(protocolHTTP, protocolGRPC)},
			},
			"hosts": schema.ListAttribute{
				ElementType: types.StringType, Optional: true, Computed: true,
				Default:     listdefault.StaticValue(types.ListValueMust(types.StringType, []attr.Value{types.StringValue("*")})),
				Description: "Hosts the gateway accepts and routes, e.g. `models.example.com`. Defaults to `[\"*\"]`, any host.",
				Validators: []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues(),
					listvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1))},
			},
			"tls_credential_name": schema.StringAttribute{
				Optional: true,
				Description: "Terminate TLS at the gateway with this credential: the name of a TLS Secret in `istio-system` " +
					"of the data-plane cluster (or an ASM certificate), as an Istio Gateway's `tls.credentialName`. The URLs " +
					"then use `https`.",
				Validators: []validator.String{dnsSubdomain()},
			},
			"force_conflicts": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Take over fields another field manager owns in the Gateway or VirtualService instead of failing.",
			},
			"address": schema.StringAttribute{
				Computed:    true,
				Description: "External address (IP or hostname) of the ingress gateway's load balancer.",
			},
			"inference_url": schema.StringAttribute{
				Computed: true,
				Description: "Where a client sends inference requests: `http://<address>:<port>` (`https` with TLS); with " +
					"`GRPC`, `<address>:<port>`, a gRPC target (the model is named in the request).",
			},
			"model_url_template": schema.StringAttribute{
				Computed: true,
				Description: "The KServe v2 REST inference URL of a model, `<inference_url>/v2/models/%s/infer`: pass it to " +
					"`format()` with an InferenceService's name. Null with `GRPC`.",
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true, Delete: true}),
		},
	}
}

// ModifyPlan resolves the namespace and, when the gateway stays the same, shows the URLs the change
// will give instead of unknown values.
func (r *modelMeshIngressResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	planNamespace(ctx, r.data, req, resp)
	if req.Plan.Raw.IsNull() || req.State.Raw.IsNull() || resp.Diagnostics.HasError() {
		return
	}
	var plan, state modelMeshIngressModel
	resp.Diagnostics.Append(resp.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	// Without an address in state (the last wait failed, or the load balancer lost it) the apply
	// waits for one, whatever it will be.
	if resp.Diagnostics.HasError() || !plan.GatewayName.Equal(state.GatewayName) || plan.Port.IsUnknown() ||
		state.Address.IsNull() {
		return
	}
	plan.setURLs(state.Address)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *modelMeshIngressResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan.Get, true, &resp.State, &resp.Diagnostics)
}

func (r *modelMeshIngressResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan.Get, false, &resp.State, &resp.Diagnostics)
}

// controlPlane is the client of the mesh's control plane, or nil after an error diagnostic.
func (r *modelMeshIngressResource) controlPlane(ctx context.Context, m *modelMeshIngressModel, diags *diag.Diagnostics) *kube.Client {
	client, err := r.data.meshKube(ctx, m.MeshID.ValueString(), m.PrivateEndpoint.ValueBool())
	if err != nil {
		controlPlaneError(m.MeshID.ValueString(), err, diags)
	}
	return client
}

// controlPlaneError explains a failure to reach a mesh's control plane, naming the RAM permission
// when ASM refused the kubeconfig.
func controlPlaneError(meshID string, err error, diags *diag.Diagnostics) {
	switch {
	case asm.IsPermissionDenied(err):
		diags.AddAttributeError(path.Root("mesh_id"), "No permission to reach the mesh's control plane",
			fmt.Sprintf("The provider's RAM identity may not fetch mesh %s's kubeconfig: grant it %s (or the system "+
				"policy AliyunASMFullAccess).\n\n%s", meshID, meshKubeconfigAction, err))
	case asm.IsNotFound(err):
		diags.AddAttributeError(path.Root("mesh_id"), "Mesh not found",
			fmt.Sprintf("No ASM instance %s exists in the provider's region.\n\n%s", meshID, err))
	default:
		diags.AddError("Reaching the control plane of mesh "+meshID+" failed", err.Error())
	}
}

// apply checks the gateway, applies the Gateway and VirtualService, stores them, then waits for
// the gateway's address. A gateway that cannot serve the route fails before anything is created.
func (r *modelMeshIngressResource) apply(ctx context.Context, get func(context.Context, any) diag.Diagnostics, create bool, state modelSetter, diags *diag.Diagnostics) {
	var plan modelMeshIngressModel
	diags.Append(get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	timeout := operationTimeout(ctx, plan.Timeouts, applyOperation(create), ingressApplyTimeout, diags)
	if diags.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	spec := plan.spec(ctx, diags)
	dataPlane := r.data.kubeClient(diags)
	if diags.HasError() || dataPlane == nil {
		return
	}
	svc, found := readObject(ctx, dataPlane, gatewayServiceRef(spec.gatewayName), diags)
	if diags.HasError() {
		return
	}
	if !found {
		svc = nil
	}
	if err := checkGateway(svc, spec.gatewayName, spec.port); err != nil {
		diags.AddAttributeError(path.Root("gateway_name"), "The ingress gateway cannot carry the route", err.Error())
		return
	}
	controlPlane := r.controlPlane(ctx, &plan, diags)
	if controlPlane == nil {
		return
	}
	for _, ref := range []kube.Ref{spec.gatewayRef(), spec.virtualServiceRef()} {
		if !create {
			break
		}
		// An object this provider applied is taken back: it is what is left when the other one was
		// deleted outside Terraform and Read dropped the pair from state.
		if obj, exists := readObject(ctx, controlPlane, ref, diags); exists && !r.appliedByUs(obj) {
			diags.AddError(fmt.Sprintf("%s already exists on the control plane of mesh %s", ref, plan.MeshID.ValueString()),
				fmt.Sprintf("Import it to manage it with Terraform (terraform import asm_modelmesh_ingress.<name> %s), or choose another name.",
					ingressID(plan.MeshID.ValueString(), spec.namespace, spec.name)))
		}
		if diags.HasError() {
			return
		}
	}
	opts := kube.ApplyOptions{FieldManager: r.data.fieldManager, Force: plan.ForceConflicts.ValueBool()}
	var applied [2]*unstructured.Unstructured
	for i, obj := range []struct {
		ref kube.Ref
		obj *unstructured.Unstructured
	}{{spec.gatewayRef(), spec.gatewayObject()}, {spec.virtualServiceRef(), spec.virtualServiceObject()}} {
		var err error
		if applied[i], err = controlPlane.Apply(ctx, obj.ref, obj.obj, opts); err != nil {
			detail := err.Error()
			if kube.IsNotFound(err) {
				// The only object an apply can miss is its namespace.
				detail = fmt.Sprintf("The namespace %q does not exist on the mesh's control plane. Create it in the mesh "+
					"(ASM console: the mesh > Global Namespace > Create), as ASM's ModelMesh guide does for "+
					"modelmesh-serving, then apply again.\n\n%s", spec.namespace, detail)
			}
			diags.AddError(fmt.Sprintf("Applying %s on the control plane of mesh %s failed", obj.ref, plan.MeshID.ValueString()), detail)
			return
		}
	}
	plan.ID = types.StringValue(ingressID(plan.MeshID.ValueString(), spec.namespace, spec.name))
	if err := plan.readIngress(applied[0], applied[1]); err != nil {
		diags.AddError("Reading back the applied objects failed", err.Error())
		return
	}
	// Stored before the wait, so that a failed wait leaves the objects in state (tainted), not orphaned.
	plan.setURLs(types.StringNull())
	diags.Append(state.Set(ctx, &plan)...)
	address, err := waitGatewayAddress(ctx, dataPlane, spec.gatewayName, spec.port)
	if err != nil {
		diags.AddAttributeError(path.Root("gateway_name"), "The ingress gateway has no usable address", err.Error())
		return
	}
	plan.setURLs(types.StringValue(address))
	diags.Append(state.Set(ctx, &plan)...)
}

// appliedByUs reports whether the provider's field manager applied obj's spec.
func (r *modelMeshIngressResource) appliedByUs(obj *unstructured.Unstructured) bool {
	owned, err := kube.Owned(obj, r.data.fieldManager)
	return err == nil && owned.Has("spec")
}

func ingressID(meshID, namespace, name string) string { return meshID + ":" + namespace + "/" + name }

func (r *modelMeshIngressResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state modelMeshIngressModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client, err := r.data.meshKube(ctx, state.MeshID.ValueString(), state.PrivateEndpoint.ValueBool())
	if asm.IsNotFound(err) {
		// The mesh is gone, and its control plane with every object on it.
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		controlPlaneError(state.MeshID.ValueString(), err, &resp.Diagnostics)
		return
	}
	spec := state.spec(ctx, &resp.Diagnostics)
	gateway, found := readObject(ctx, client, spec.gatewayRef(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	vs, vsFound := readObject(ctx, client, spec.virtualServiceRef(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found || !vsFound {
		// Either object missing means the route is broken: plan creating both again.
		resp.State.RemoveResource(ctx)
		return
	}
	if err := state.readIngress(gateway, vs); err != nil {
		resp.Diagnostics.AddError("Reading the ingress objects failed", err.Error())
		return
	}
	state.ID = types.StringValue(ingressID(state.MeshID.ValueString(), spec.namespace, spec.name))
	address := types.StringNull()
	if dataPlane := r.data.kubeClient(&resp.Diagnostics); dataPlane != nil {
		if svc, ok := readObject(ctx, dataPlane, gatewayServiceRef(state.GatewayName.ValueString()), &resp.Diagnostics); ok {
			if a := gatewayAddress(svc); a != "" {
				address = types.StringValue(a)
			}
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	state.setURLs(address)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *modelMeshIngressResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state modelMeshIngressModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout := operationTimeout(ctx, state.Timeouts, "delete", ingressDeleteTimeout, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := r.data.meshKube(ctx, state.MeshID.ValueString(), state.PrivateEndpoint.ValueBool())
	if asm.IsNotFound(err) {
		return
	}
	if err != nil {
		controlPlaneError(state.MeshID.ValueString(), err, &resp.Diagnostics)
		return
	}
	spec := state.spec(ctx, &resp.Diagnostics)
	// The route first, so that the gateway never serves a route to a server it no longer has.
	for _, ref := range []kube.Ref{spec.virtualServiceRef(), spec.gatewayRef()} {
		deleteWith(ctx, client, ref, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
	}
}

// ImportState takes `<mesh_id>:<namespace>/<name>`; Read fills the rest from the live objects.
func (r *modelMeshIngressResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	meshID, rest, ok := strings.Cut(req.ID, ":")
	if !ok || !asmIDPattern.MatchString(meshID) {
		resp.Diagnostics.AddError("Invalid import ID", fmt.Sprintf("import id %q is not of the form <mesh_id>:<namespace>/<name>, "+
			"e.g. c0a1b2c3d4e5f60718293a4b5c6d7e8f9:modelmesh-serving/modelmesh-serving", req.ID))
		return
	}
	namespace, name, err := parseNamespacedID(rest)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import ID", err.Error())
		return
	}
	empty := types.ListValueMust(types.StringType, nil)
	for attribute, value := range map[string]attr.Value{
		"id": types.StringValue(req.ID), "mesh_id": types.StringValue(meshID), "namespace": types.StringValue(namespace),
		"name": types.StringValue(name), "private_endpoint": types.BoolValue(false), "force_conflicts": types.BoolValue(false),
		"hosts": empty,
	} {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attribute), value)...)
	}
}
