package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
)

var (
	_ datasource.DataSource              = &meshDataSource{}
	_ datasource.DataSourceWithConfigure = &meshDataSource{}
)

// NewMeshDataSource returns the asm_mesh data source.
func NewMeshDataSource() datasource.DataSource { return &meshDataSource{} }

type meshDataSource struct {
	configuredDataSource
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
