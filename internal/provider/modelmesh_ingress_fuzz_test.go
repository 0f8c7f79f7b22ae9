package provider

import "testing"

// An accepted import ID names a mesh, a namespace and a name that round-trip into the id.
func FuzzModelMeshIngressImportID(f *testing.F) {
	for _, seed := range []string{
		"c0a1b2c3d4e5f60718293a4b5c6d7e8f9:modelmesh-serving/modelmesh-serving", "", ":", ":/", "c0a1b2c3d4e5f607:a/b/c",
		"c0a1b2c3d4e5f607:a", "c0a1b2c3d4e5f607/a/b", "x:a/b", "c0a1b2c3d4e5f607:a:b/c", "c0a1b2c3d4e5f607:A/b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		state, ok := importID(t, NewModelMeshIngressResource(), id)
		if !ok {
			return
		}
		meshID, namespace, name := stateString(t, state, "mesh_id"), stateString(t, state, "namespace"), stateString(t, state, "name")
		if got := stateString(t, state, "id"); got != id || ingressID(meshID, namespace, name) != id {
			t.Fatalf("import of %q: id %q, mesh_id %q, namespace %q, name %q do not round-trip", id, got, meshID, namespace, name)
		}
		if !asmIDPattern.MatchString(meshID) {
			t.Fatalf("import of %q accepted a mesh id that is not an ASM id: %q", id, meshID)
		}
	})
}
