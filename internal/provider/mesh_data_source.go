package provider

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
)

var (
	_ datasource.DataSource              = &meshDataSource{}
	_ datasource.DataSourceWithConfigure = &meshDataSource{}
)

// modelMeshMinimumVersion is the oldest ASM release whose ModelMesh supports custom serving runtimes.
const modelMeshMinimumVersion = "1.18.0.134"

// asmIDPattern matches ASM mesh IDs and ACK cluster IDs: "c" and hexadecimal digits (32 in every
// ID seen), with some slack so that an unusual real ID is judged by the API, not rejected here.
var asmIDPattern = regexp.MustCompile(`^c[0-9a-f]{16,48}$`)

func asmIDValidator(what string) validator.String {
	return stringvalidator.RegexMatches(asmIDPattern,
		"must be an "+what+" ID: \"c\" followed by hexadecimal digits, e.g. c0a1b2c3d4e5f60718293a4b5c6d7e8f9")
}

// NewMeshDataSource returns the asm_mesh data source.
func NewMeshDataSource() datasource.DataSource { return &meshDataSource{} }

type meshDataSource struct {
	data *providerData
}

type meshDataSourceModel struct {
	MeshID              types.String        `tfsdk:"mesh_id"`
	MinimumVersion      types.String        `tfsdk:"minimum_version"`
	Name                types.String        `tfsdk:"name"`
	Region              types.String        `tfsdk:"region"`
	State               types.String        `tfsdk:"state"`
	ErrorMessage        types.String        `tfsdk:"error_message"`
	Version             types.String        `tfsdk:"version"`
	VersionNumber       types.String        `tfsdk:"version_number"`
	MeetsMinimumVersion types.Bool          `tfsdk:"meets_minimum_version"`
	VpcID               types.String        `tfsdk:"vpc_id"`
	Endpoints           *meshEndpointsModel `tfsdk:"endpoints"`
	Clusters            []meshClusterModel  `tfsdk:"clusters"`
}

type meshEndpointsModel struct {
	IntranetAPIServer types.String `tfsdk:"intranet_api_server"`
	PublicAPIServer   types.String `tfsdk:"public_api_server"`
	IntranetPilot     types.String `tfsdk:"intranet_pilot"`
	PublicPilot       types.String `tfsdk:"public_pilot"`
}

type meshClusterModel struct {
	ID                types.String `tfsdk:"id"`
	Name              types.String `tfsdk:"name"`
	Type              types.String `tfsdk:"type"`
	Region            types.String `tfsdk:"region"`
	State             types.String `tfsdk:"state"`
	KubernetesVersion types.String `tfsdk:"kubernetes_version"`
	VpcID             types.String `tfsdk:"vpc_id"`
}

func (d *meshDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_mesh"
}

func (d *meshDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "Reads an Alibaba Cloud Service Mesh (ASM) instance: its state, version, endpoints and the " +
			"Kubernetes clusters in it. With `minimum_version` it also guards a configuration against a mesh too " +
			"old for it: the plan fails before anything is applied. ModelMesh custom serving runtimes need ASM " +
			modelMeshMinimumVersion + " or later. A mesh is read in any state; the plan fails only for a failure " +
			"state (see `state`) or an unmet `minimum_version`.",
		Attributes: map[string]schema.Attribute{
			"mesh_id": schema.StringAttribute{
				Required:    true,
				Description: "ID of the ASM instance, e.g. `c0a1b2c3d4e5f60718293a4b5c6d7e8f9`.",
				Validators:  []validator.String{asmIDValidator("ASM mesh")},
			},
			"minimum_version": schema.StringAttribute{
				Optional: true,
				Description: "Fail when the mesh runs an older ASM version than this, e.g. `" + modelMeshMinimumVersion +
					"` (what ModelMesh custom runtimes need). Four numbers; a leading `v` and a build suffix " +
					"(`v1.22.6.71-g7d67a80b-aliyun`) are accepted.",
				Validators: []validator.String{versionValidator{}},
			},
			"name":   computed("Name of the mesh."),
			"region": computed("Region of the mesh, e.g. `cn-hangzhou`."),
			"state": computed("State of the mesh. `running`; transitional, read without error: `updating` while a " +
				"cluster joins or leaves it, `initial` while it is created, `upgrading` (both with a warning); failure " +
				"states, which fail the plan: `failed`, `create_timeout`, `upgrading_failed`, `updating_failed`. A " +
				"mesh refuses cluster changes until it is `running`; `asm_cluster_attachment` waits for that."),
			"error_message": computed("The service's explanation when the mesh is in a failed state; empty otherwise."),
			"version":       computed("ASM version as the service reports it, e.g. `v1.22.6.71-g7d67a80b-aliyun`."),
			"version_number": computed("The four numbers of `version`, e.g. `1.22.6.71`; null when the service " +
				"reports a version that cannot be parsed."),
			"meets_minimum_version": schema.BoolAttribute{
				Computed: true,
				Description: "Whether the mesh runs at least `minimum_version`, or " + modelMeshMinimumVersion +
					" (needed by ModelMesh custom runtimes) when `minimum_version` is not set; null when the " +
					"version cannot be parsed.",
			},
			"vpc_id": computed("VPC of the mesh's control plane."),
			"endpoints": schema.SingleNestedAttribute{
				Computed:    true,
				Description: "Addresses of the mesh's control plane. Public ones are empty without an EIP.",
				Attributes: map[string]schema.Attribute{
					"intranet_api_server": computed("Intranet address of the mesh's API server."),
					"public_api_server":   computed("Public address of the mesh's API server."),
					"intranet_pilot":      computed("Intranet address of Istio Pilot."),
					"public_pilot":        computed("Public address of Istio Pilot."),
				},
			},
			"clusters": schema.ListNestedAttribute{
				Computed:    true,
				Description: "Kubernetes clusters in the mesh, in the order they were added.",
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id":                 computed("Cluster ID."),
						"name":               computed("Cluster name."),
						"type":               computed("Cluster type, e.g. `ManagedKubernetes`."),
						"region":             computed("Region of the cluster."),
						"state":              computed("State of the cluster in the mesh: `running`, `starting`, `stopping`, `stopped`, `failed`."),
						"kubernetes_version": computed("Kubernetes version of the cluster, e.g. `1.30.1-aliyun.1`."),
						"vpc_id":             computed("VPC of the cluster."),
					},
				},
			},
		},
	}
}

func (d *meshDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if req.ProviderData == nil {
		return
	}
	data, ok := req.ProviderData.(*providerData)
	if !ok {
		resp.Diagnostics.AddError("Unexpected provider data", fmt.Sprintf("expected *providerData, got %T; please report this bug", req.ProviderData))
		return
	}
	d.data = data
}

func (d *meshDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var config meshDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := d.data.asmClient(&resp.Diagnostics)
	if client == nil {
		return
	}
	meshID := config.MeshID.ValueString()
	mesh, diags := checkMeshVersion(ctx, client, meshID, config.MinimumVersion.ValueString(), path.Root("minimum_version"))
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	clusters, err := client.ListClusters(ctx, meshID)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("mesh_id"), "Reading the clusters of mesh "+meshID+" failed", err.Error())
		return
	}

	state := meshDataSourceModel{
		MeshID:              config.MeshID,
		MinimumVersion:      config.MinimumVersion,
		Name:                types.StringValue(mesh.Name),
		Region:              types.StringValue(mesh.RegionID),
		State:               types.StringValue(mesh.State),
		ErrorMessage:        types.StringValue(mesh.ErrorMessage),
		Version:             types.StringValue(mesh.Version),
		VersionNumber:       types.StringNull(),
		MeetsMinimumVersion: types.BoolNull(),
		VpcID:               types.StringValue(mesh.VpcID),
		Endpoints: &meshEndpointsModel{
			IntranetAPIServer: types.StringValue(mesh.Endpoints.IntranetAPIServer),
			PublicAPIServer:   types.StringValue(mesh.Endpoints.PublicAPIServer),
			IntranetPilot:     types.StringValue(mesh.Endpoints.IntranetPilot),
			PublicPilot:       types.StringValue(mesh.Endpoints.PublicPilot),
		},
		Clusters: make([]meshClusterModel, 0, len(clusters)),
	}
	if version, err := asm.ParseVersion(mesh.Version); err != nil {
		// With minimum_version set, checkMeshVersion has already failed on this.
		resp.Diagnostics.AddAttributeWarning(path.Root("version"), "Mesh version not understood",
			fmt.Sprintf("Mesh %s reports %s; version_number and meets_minimum_version are left null.", meshID, err))
	} else {
		minimum, _ := asm.ParseVersion(modelMeshMinimumVersion)
		if !config.MinimumVersion.IsNull() {
			minimum, _ = asm.ParseVersion(config.MinimumVersion.ValueString())
		}
		state.VersionNumber = types.StringValue(version.String())
		state.MeetsMinimumVersion = types.BoolValue(version.Compare(minimum) >= 0)
	}
	for _, cl := range clusters {
		state.Clusters = append(state.Clusters, meshClusterModel{
			ID:                types.StringValue(cl.ID),
			Name:              types.StringValue(cl.Name),
			Type:              types.StringValue(cl.Type),
			Region:            types.StringValue(cl.RegionID),
			State:             types.StringValue(cl.State),
			KubernetesVersion: types.StringValue(cl.KubernetesVersion),
			VpcID:             types.StringValue(cl.VpcID),
		})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// checkMeshVersion reads the mesh and checks that it can take ModelMesh workloads: only a mesh in a
// failure state gives an error (initializing or upgrading gives a warning, updating nothing), and,
// when minimum is set, a mesh older than minimum (or whose version cannot be parsed) gives an error
// at minimumPath saying what to do. Problems reading the mesh are reported at mesh_id.
func checkMeshVersion(ctx context.Context, client *asm.Client, meshID, minimum string, minimumPath path.Path) (*asm.Mesh, diag.Diagnostics) {
	var diags diag.Diagnostics
	meshPath := path.Root("mesh_id")
	mesh, err := client.DescribeMesh(ctx, meshID)
	if asm.IsNotFound(err) {
		diags.AddAttributeError(meshPath, "Mesh not found",
			fmt.Sprintf("No ASM instance %s exists in the provider's region. Check mesh_id and the provider's region.\n\n%s", meshID, err))
		return nil, diags
	}
	if err != nil {
		diags.AddAttributeError(meshPath, "Reading mesh "+meshID+" failed", err.Error())
		return nil, diags
	}

	// A mesh is read in any state: it is "updating" whenever a cluster joins or leaves it, anyone's.
	switch {
	case mesh.State == asm.MeshRunning, mesh.State == asm.MeshUpdating:
	case asm.MeshStateFailed(mesh.State):
		detail := fmt.Sprintf("Mesh %s (%s) is in state %q", meshID, mesh.Name, mesh.State)
		if mesh.ErrorMessage != "" {
			detail += ": " + mesh.ErrorMessage
		}
		diags.AddAttributeError(meshPath, "Mesh is not usable",
			detail+".\nRepair it in the ASM console (or retry the upgrade with UpgradeMeshVersion), then plan again.")
	case asm.MeshStateTransitional(mesh.State):
		diags.AddAttributeWarning(meshPath, "Mesh is not running yet",
			fmt.Sprintf("Mesh %s (%s) is %s. Clusters are added to or removed from it once it is running again.",
				meshID, mesh.Name, mesh.State))
	default:
		diags.AddAttributeWarning(meshPath, "Mesh state not known to this provider",
			fmt.Sprintf("Mesh %s (%s) reports state %q. It is read as it is; if it is not running, changes to it "+
				"wait until it is.", meshID, mesh.Name, mesh.State))
	}

	if minimum == "" {
		return mesh, diags
	}
	required, err := asm.ParseVersion(minimum)
	if err != nil {
		diags.AddAttributeError(minimumPath, "Invalid minimum version", err.Error())
		return mesh, diags
	}
	version, err := asm.ParseVersion(mesh.Version)
	if err != nil {
		diags.AddAttributeError(minimumPath, "Cannot check the mesh version",
			fmt.Sprintf("Mesh %s reports a version that cannot be compared with %s: %s", meshID, minimum, err))
		return mesh, diags
	}
	if version.Compare(required) < 0 {
		diags.AddAttributeError(minimumPath, "Mesh version too old",
			fmt.Sprintf("Mesh %s (%s) runs ASM %s (%s), older than the required %s. ModelMesh custom serving runtimes "+
				"need ASM %s or later.\n\nUpgrade the mesh, then plan again: in the ASM console (the mesh's Basic "+
				"Information page, Upgrade), or with the UpgradeMeshVersion API, e.g.\n"+
				"  aliyun servicemesh UpgradeMeshVersion --ServiceMeshId %s",
				meshID, mesh.Name, version, mesh.Version, required, modelMeshMinimumVersion, meshID))
	}
	return mesh, diags
}

// asmClient returns the shared ASM client or an error diagnostic naming the missing setting.
func (d *providerData) asmClient(diags *diag.Diagnostics) *asm.Client {
	if d == nil {
		diags.AddError("Provider not configured", "The asm provider was not configured before use; please report this bug.")
		return nil
	}
	client, err := d.ASM()
	if err != nil {
		diags.AddError("ASM API not reachable with the provider configuration", err.Error())
		return nil
	}
	return client
}

// versionValidator accepts what asm.ParseVersion reads.
type versionValidator struct{}

func (versionValidator) Description(context.Context) string {
	return "an ASM version of four numbers, e.g. " + modelMeshMinimumVersion
}

func (v versionValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (versionValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := asm.ParseVersion(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid ASM version", err.Error())
	}
}
