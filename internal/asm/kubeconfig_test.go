package asm

import (
	"strings"
	"testing"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

// The mesh's kubeconfig, public or intranet as asked; throttling retried; a missing RAM permission
// and an unknown mesh told apart; an empty answer never taken for a kubeconfig.
func TestMeshKubeconfig(t *testing.T) {
	f := newFixture(t, asmfake.Options{})
	ctx := testContext(t)

	if _, err := f.client.MeshKubeconfig(ctx, f.mesh.ID, false); err == nil || !strings.Contains(err.Error(), "holds no kubeconfig") {
		t.Fatalf("mesh without a control plane: err = %v, want one saying the answer holds no kubeconfig", err)
	}

	f.fake.SetControlPlane(f.mesh.ID, asmfake.ControlPlane{Public: []byte("public"), Intranet: []byte("intranet")})
	f.fake.InjectFault("DescribeServiceMeshKubeconfig", asmfake.Fault{Code: asmfake.CodeThrottling, Times: 1})
	for private, want := range map[bool]string{false: "public", true: "intranet"} {
		got, err := f.client.MeshKubeconfig(ctx, f.mesh.ID, private)
		if err != nil || got != want {
			t.Errorf("private=%v: got %q, %v; want %q", private, got, err, want)
		}
	}
	if n := f.fake.CountRequests("DescribeServiceMeshKubeconfig"); n != 4 {
		t.Errorf("%d calls, want 4 (the first answer lost to throttling, retried)", n)
	}

	f.fake.InjectFault("DescribeServiceMeshKubeconfig", asmfake.Fault{Code: asmfake.CodeForbiddenRAM, Times: 1})
	_, err := f.client.MeshKubeconfig(ctx, f.mesh.ID, false)
	if !IsPermissionDenied(err) || !strings.Contains(err.Error(), "servicemesh:DescribeServiceMeshKubeconfig") {
		t.Errorf("refused: err = %v, want a permission error naming servicemesh:DescribeServiceMeshKubeconfig", err)
	}
	if _, err := f.client.MeshKubeconfig(ctx, "c00000000000000000000000000000000", false); !IsNotFound(err) {
		t.Errorf("unknown mesh: err = %v, want not found", err)
	}
}
