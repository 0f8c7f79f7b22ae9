package provider

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
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
