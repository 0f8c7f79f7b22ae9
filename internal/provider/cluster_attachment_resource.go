package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/alicred"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
)

var (
	_ resource.Resource                = &clusterAttachmentResource{}
	_ resource.ResourceWithConfigure   = &clusterAttachmentResource{}
	_ resource.ResourceWithImportState = &clusterAttachmentResource{}
)

const (
	defaultAttachTimeout = 15 * time.Minute
	defaultDetachTimeout = 15 * time.Minute
)

// NewClusterAttachmentResource returns the asm_cluster_attachment resource.
func NewClusterAttachmentResource() resource.Resource { return &clusterAttachmentResource{} }

type clusterAttachmentResource struct {
	configuredResource
}

type clusterAttachmentModel struct {
	ID                types.String   `tfsdk:"id"`
	MeshID            types.String   `tfsdk:"mesh_id"`
	ClusterID         types.String   `tfsdk:"cluster_id"`
	State             types.String   `tfsdk:"state"`
	ClusterName       types.String   `tfsdk:"cluster_name"`
	ClusterType       types.String   `tfsdk:"cluster_type"`
	Region            types.String   `tfsdk:"region"`
	KubernetesVersion types.String   `tfsdk:"kubernetes_version"`
	VpcID             types.String   `tfsdk:"vpc_id"`
	Timeouts          timeouts.Value `tfsdk:"timeouts"`
}

func (r *clusterAttachmentResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cluster_attachment"
}

func (r *clusterAttachmentResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	// Only for what a cluster never changes while it stays in the mesh.
	fixed := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "Adds a Kubernetes (ACK) cluster to an Alibaba Cloud Service Mesh (ASM) instance, the precondition " +
			"for serving models with ModelMesh on it. Creating waits until the cluster runs in the mesh and the mesh " +
			"is `running` again (it is `updating` while a cluster joins or leaves, and refuses other changes " +
			"meanwhile); destroying waits the same way. A mesh busy with someone else's change is waited for, within " +
			"the timeouts. A cluster that fails to join is removed again and the apply fails with the service's " +
			"reason. Several attachments to one mesh are applied one after another.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "`<mesh_id>:<cluster_id>`.",
				PlanModifiers: fixed,
			},
			"mesh_id": schema.StringAttribute{
				Required:      true,
				Description:   "ID of the ASM instance. Changing it moves the cluster: it is removed, then added to the new mesh.",
				Validators:    []validator.String{asmIDValidator("ASM mesh")},
				PlanModifiers: replace,
			},
			"cluster_id": schema.StringAttribute{
				Required:      true,
				Description:   "ID of the ACK cluster to add. It must be in the mesh's VPC and in no other mesh. Changing it replaces the attachment.",
				Validators:    []validator.String{asmIDValidator("ACK cluster")},
				PlanModifiers: replace,
			},
			"state": schema.StringAttribute{
				Computed: true,
				Description: "State of the cluster in the mesh: `running` after a successful apply; `starting` while it " +
					"joins, `stopping` while it leaves, `stopped` when its ACK cluster is not running, `failed` when it " +
					"could not join (refresh then warns with the service's reason).",
			},
			"cluster_name": schema.StringAttribute{
				Computed:    true,
				Description: "Name of the cluster.",
			},
			"cluster_type": schema.StringAttribute{
				Computed:      true,
				Description:   "Type of the cluster, e.g. `ManagedKubernetes`.",
				PlanModifiers: fixed,
			},
			"region": schema.StringAttribute{
				Computed:      true,
				Description:   "Region of the cluster.",
				PlanModifiers: fixed,
			},
			"kubernetes_version": schema.StringAttribute{
				Computed:    true,
				Description: "Kubernetes version of the cluster, e.g. `1.30.1-aliyun.1`.",
			},
			"vpc_id": schema.StringAttribute{
				Computed:      true,
				Description:   "VPC of the cluster.",
				PlanModifiers: fixed,
			},
		},
		Blocks: map[string]schema.Block{
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Delete: true}),
		},
	}
}

func (r *clusterAttachmentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan clusterAttachmentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, defaultAttachTimeout)
	resp.Diagnostics.Append(diags...)
	client := r.data.asmClient(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	meshID, clusterID := plan.MeshID.ValueString(), plan.ClusterID.ValueString()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cluster, err := client.AttachCluster(ctx, meshID, clusterID)
	var inMesh *asm.ClusterInMeshError
	var failed *asm.ClusterFailedError
	var stopped *asm.ClusterStoppedError
	switch {
	case err == nil:
	case errors.As(err, &inMesh):
		resp.Diagnostics.AddAttributeError(path.Root("cluster_id"), "Cluster already in the mesh", fmt.Sprintf(
			"Cluster %s is already in mesh %s (state: %s). To manage that attachment with Terraform, import it "+
				"instead of creating it:\n  terraform import asm_cluster_attachment.<name> %s\n(or an import block with id = %q).",
			clusterID, meshID, inMesh.State, attachmentID(meshID, clusterID), attachmentID(meshID, clusterID)))
		return
	case errors.As(err, &failed) && failed.RemoveErr == nil:
		resp.Diagnostics.AddError("Cluster failed to join the mesh", err.Error()+
			"\n\nNothing is left in the mesh or in the state: fix the cause the service names, then apply again.")
		return
	case cluster == nil:
		// The mesh shows that nothing was added.
		resp.Diagnostics.AddError(fmt.Sprintf("Adding cluster %s to mesh %s failed", clusterID, meshID), err.Error()+
			"\n\n"+attachRefusalAdvice(err))
		return
	case errors.As(err, &stopped):
		resp.Diagnostics.AddError("Cluster is stopped in the mesh", err.Error()+"\n\nThe ACK cluster is not running, so "+
			"the mesh cannot manage it. Start it (ACK console), or check that it still exists and that its API server "+
			"is reachable from the mesh; then apply again. The attachment is kept in the state as tainted: the next "+
			"apply removes the cluster from the mesh and adds it again.")
	default:
		// The cluster is, or may be, in the mesh: keep it in state, where the failed apply marks it
		// tainted, so that the next apply removes and adds it again instead of orphaning it.
		resp.Diagnostics.AddError(fmt.Sprintf("Adding cluster %s to mesh %s did not complete", clusterID, meshID),
			err.Error()+"\n\nThe attachment is kept in the state as tainted: the next apply removes the cluster "+
				"from the mesh and adds it again.")
	}
	plan.ID = types.StringValue(attachmentID(meshID, clusterID))
	plan.setCluster(cluster)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// attachRefusalAdvice says what to do about an add the service refused. Its refusals carry codes
// ASM does not document, so for anything but a missing permission or a broken mesh it lists the
// reasons ASM documents; a credential that could not be obtained was no refusal of ASM's.
func attachRefusalAdvice(err error) string {
	var notRunning *asm.MeshNotRunningError
	var credential *alicred.Error
	switch {
	case errors.As(err, &credential):
		return "Nothing was sent to ASM: fix what the credential failure above names, then apply again."
	case asm.IsPermissionDenied(err):
		return "Grant the permission named above to the RAM user or role in the provider's credentials, then apply again."
	case errors.As(err, &notRunning):
		return "The mesh needs repair before clusters can join it: see its state in the ASM console, then apply again."
	case errors.Is(err, context.DeadlineExceeded):
		return "The mesh stayed busy with other changes for the whole create timeout: apply again, or raise timeouts.create."
	}
	return "Nothing was added to the mesh. ASM documents these reasons a cluster cannot join: it is already in another " +
		"mesh (a cluster can be in only one: remove it there first, or set mesh_id to that mesh and import the " +
		"attachment); ASM has no administrator permission on the cluster; it is in another VPC that is not connected " +
		"by CEN; its CIDR blocks conflict with the mesh's; or it already has an istio-system namespace."
}

func (r *clusterAttachmentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state clusterAttachmentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	client := r.data.asmClient(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	meshID, clusterID := state.MeshID.ValueString(), state.ClusterID.ValueString()

	cluster, err := client.GetCluster(ctx, meshID, clusterID)
	if asm.IsNotFound(err) {
		tflog.Warn(ctx, "cluster is no longer in the mesh, or the mesh is gone; removing the attachment from state",
			map[string]any{"mesh_id": meshID, "cluster_id": clusterID, "error": err.Error()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Reading cluster %s in mesh %s failed", clusterID, meshID), err.Error())
		return
	}
	switch cluster.State {
	case asm.ClusterStopped:
		resp.Diagnostics.AddWarning("Cluster is stopped in the mesh", fmt.Sprintf("Cluster %s is stopped in mesh %s: "+
			"its ACK cluster is not running, so the mesh cannot manage it. Start it (ACK console), or check that it "+
			"still exists and that its API server is reachable from the mesh.", clusterID, meshID))
	case asm.ClusterFailed:
		resp.Diagnostics.AddWarning("Cluster has failed in the mesh", fmt.Sprintf("Cluster %s is in state failed in "+
			"mesh %s: %s\nFix the cause, then replace the attachment: terraform apply -replace=<address of this "+
			"asm_cluster_attachment>.", clusterID, meshID, cluster.ErrorMessage))
	}
	state.ID = types.StringValue(attachmentID(meshID, clusterID))
	state.setCluster(cluster)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update only changes timeouts: every argument replaces the attachment.
func (r *clusterAttachmentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state clusterAttachmentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	state.Timeouts = plan.Timeouts
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *clusterAttachmentResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state clusterAttachmentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, defaultDetachTimeout)
	resp.Diagnostics.Append(diags...)
	client := r.data.asmClient(&resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	meshID, clusterID := state.MeshID.ValueString(), state.ClusterID.ValueString()
	if err := client.DetachCluster(ctx, meshID, clusterID); err != nil {
		resp.Diagnostics.AddError(fmt.Sprintf("Removing cluster %s from mesh %s failed", clusterID, meshID), err.Error())
	}
}

func (r *clusterAttachmentResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	meshID, clusterID, ok := strings.Cut(req.ID, ":")
	if !ok || !asmIDPattern.MatchString(meshID) || !asmIDPattern.MatchString(clusterID) {
		resp.Diagnostics.AddError("Invalid import ID",
			fmt.Sprintf("Import ID %q is not of the form <mesh_id>:<cluster_id>, e.g. "+
				"c0a1b2c3d4e5f60718293a4b5c6d7e8f9:c1234567890abcdef1234567890abcdef.", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), attachmentID(meshID, clusterID))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("mesh_id"), meshID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster_id"), clusterID)...)
}

func attachmentID(meshID, clusterID string) string { return meshID + ":" + clusterID }

func (m *clusterAttachmentModel) setCluster(cl *asm.Cluster) {
	m.State = types.StringValue(cl.State)
	m.ClusterName = types.StringValue(cl.Name)
	m.ClusterType = types.StringValue(cl.Type)
	m.Region = types.StringValue(cl.RegionID)
	m.KubernetesVersion = types.StringValue(cl.KubernetesVersion)
	m.VpcID = types.StringValue(cl.VpcID)
}
