package mmeshfake

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
)

// TestSpliceID: the model id goes into the field path, replacing what the client named there or
// added when absent, nested messages re-encoded with their new lengths; the rest is kept.
func TestSpliceID(t *testing.T) {
	req := modelserver.InferRequest{ModelName: "my-isvc", ID: "r1", Inputs: []modelserver.Tensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{1, 2}, FP32: []float32{1, 2}},
	}}
	got, err := modelserver.UnmarshalInferRequest(spliceID(req.Marshal(), []uint64{1}, "my-isvc__isvc-0d6f2c"))
	if err != nil || got.ModelName != "my-isvc__isvc-0d6f2c" || got.ID != "r1" || len(got.Inputs) != 1 || got.Inputs[0].FP32[1] != 2 {
		t.Errorf("spliced ModelInfer = %+v, %v; want model_name replaced, the rest kept", got, err)
	}
	req.ModelName = ""
	if got, err := modelserver.UnmarshalInferRequest(spliceID(req.Marshal(), []uint64{1}, "m")); err != nil || got.ModelName != "m" || got.ID != "r1" {
		t.Errorf("spliced into a request without model_name = %+v, %v; want m added", got, err)
	}

	// tensorflow.serving.PredictRequest: model_spec = 1 { name = 1 }, path [1, 1].
	spec := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "vm")
	spec = protowire.AppendString(protowire.AppendTag(spec, 2, protowire.BytesType), "sig")
	msg := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), spec)
	msg = protowire.AppendString(protowire.AppendTag(msg, 3, protowire.BytesType), "other")
	out := spliceID(msg, []uint64{1, 1}, "concrete-model-id")
	if id := extractID(out, []uint64{1, 1}); id != "concrete-model-id" {
		t.Errorf("nested id after splicing = %q", id)
	}
	if s := extractID(out, []uint64{1, 2}); s != "sig" {
		t.Errorf("sibling field after splicing = %q, want sig", s)
	}
	if s := extractID(out, []uint64{3}); s != "other" {
		t.Errorf("other field after splicing = %q, want other", s)
	}
}

// TestModelIDOf: the id field first, else the headers, with ModelMeshApi's errors.
func TestModelIDOf(t *testing.T) {
	infer := rpcConfig{IDExtractionPath: []uint64{1}, VModelID: true}
	named := modelserver.InferRequest{ModelName: "vm"}.Marshal()
	for _, tc := range []struct {
		name     string
		rpc      rpcConfig
		req      []byte
		md       metadata.MD
		id       string
		isVModel bool
		code     codes.Code
		msg      string
	}{
		{"field names a vmodel", infer, named, metadata.Pairs("mm-model-id", "ignored"), "vm", true, codes.OK, ""},
		{"empty field: header", infer, nil, metadata.Pairs("mm-model-id", "m1"), "m1", false, codes.OK, ""},
		{"vmodel header", rpcConfig{}, named, metadata.Pairs("mm-vmodel-id", "vm2"), "vm2", true, codes.OK, ""},
		{"both headers", rpcConfig{}, nil, metadata.Pairs("mm-model-id", "a", "mm-vmodel-id", "b"), "", false,
			codes.InvalidArgument, "must include only one of model id and vmodel id"},
		{"no id", rpcConfig{}, nil, metadata.MD{}, "", false, codes.InvalidArgument, "must include mm-model-id header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, isVModel, err := modelIDOf(tc.md, tc.rpc, tc.req)
			if st := status.Convert(err); id != tc.id || isVModel != tc.isVModel || st.Code() != tc.code || st.Message() != tc.msg {
				t.Errorf("modelIDOf = %q, %v, %v; want %q, %v, %s %q", id, isVModel, err, tc.id, tc.isVModel, tc.code, tc.msg)
			}
		})
	}
}

// TestFailureMessage: as model-mesh's failureMessageFromException renders a runtime's status.
func TestFailureMessage(t *testing.T) {
	for err, want := range map[error]string{
		status.Error(codes.Unknown, "Did not find storage config for key k"): "Did not find storage config for key k",
		status.Error(codes.Internal, "Failed to load Model"):                 "INTERNAL: Failed to load Model",
		status.Error(codes.Canceled, ""):                                     "CANCELLED",
		errors.New("plain"):                                                  "plain",
	} {
		if got := failureMessage(err); got != want {
			t.Errorf("failureMessage(%v) = %q, want %q", err, got, want)
		}
	}
}

// TestInstanceOptionsFromEnvRefuses: what the stand-in cannot run with is named at start.
func TestInstanceOptionsFromEnvRefuses(t *testing.T) {
	env := map[string]string{"KV_STORE": "etcd:model-mesh-etcd:2379", "INTERNAL_GRPC_SOCKET_PATH": "/tmp/s"}
	_, err := InstanceOptionsFromEnv(func(k string) string { return env[k] })
	for _, want := range []string{
		"MM_SERVICE_NAME is not set", "neither WKUBE_POD_NAME nor HOSTNAME is set",
		"INTERNAL_GRPC_SOCKET_PATH is set: the stand-in does not imitate it",
		`KV_STORE="etcd:model-mesh-etcd:2379": want etcd:<path of the etcd-config Secret's key>`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("InstanceOptionsFromEnv: %v, want it to say %q", err, want)
		}
	}
}
