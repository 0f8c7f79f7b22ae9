package modelserver

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

// The messages of KServe's v2 gRPC protocol as MLServer serves it, package inference, service
// GRPCInferenceService: the copy of MLServer's dataplane.proto that the adapter builds against
// (modelmesh-runtime-adapter v0.12.0 internal/proto/mlserver/dataplane/dataplane.proto). No served
// Go module exports generated code for it (the adapter's is internal; kserve/kserve v0.12.0 has
// none), so the fields used here are encoded by number, as internal/puller encodes ModelRuntime.

// Service is the v2 protocol's service, which also carries MLServer's model repository methods.
const Service = "inference.GRPCInferenceService"

// Tensor is an InferInputTensor (ModelInferRequest) or InferOutputTensor (ModelInferResponse):
// name = 1, datatype = 2, shape = 3 (repeated int64), contents = 5 (InferTensorContents, of which
// fp32_contents = 6, repeated float). Only FP32 is served.
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
	FP32     []float32
}

// InferRequest is a ModelInferRequest: model_name = 1, model_version = 2, id = 3, inputs = 5,
// raw_input_contents = 7 (one little-endian buffer per input, in place of contents).
type InferRequest struct {
	ModelName, ModelVersion, ID string
	Inputs                      []Tensor
	RawInputContents            [][]byte
}

// InferResponse is a ModelInferResponse: model_name = 1, model_version = 2, id = 3, outputs = 5,
// raw_output_contents = 6.
type InferResponse struct {
	ModelName, ModelVersion, ID string
	Outputs                     []Tensor
	RawOutputContents           [][]byte
}

// Marshal encodes r.
func (r InferRequest) Marshal() []byte {
	return marshalInfer(r.ModelName, r.ModelVersion, r.ID, 5, r.Inputs, 7, r.RawInputContents)
}

// Marshal encodes r.
func (r InferResponse) Marshal() []byte {
	return marshalInfer(r.ModelName, r.ModelVersion, r.ID, 5, r.Outputs, 6, r.RawOutputContents)
}

// UnmarshalInferRequest decodes a ModelInferRequest.
func UnmarshalInferRequest(b []byte) (InferRequest, error) {
	var r InferRequest
	err := unmarshalInfer(b, &r.ModelName, &r.ModelVersion, &r.ID, 5, &r.Inputs, 7, &r.RawInputContents)
	return r, err
}

// UnmarshalInferResponse decodes a ModelInferResponse.
func UnmarshalInferResponse(b []byte) (InferResponse, error) {
	var r InferResponse
	err := unmarshalInfer(b, &r.ModelName, &r.ModelVersion, &r.ID, 5, &r.Outputs, 6, &r.RawOutputContents)
	return r, err
}

func marshalInfer(name, version, id string, tensorsField protowire.Number, tensors []Tensor, rawField protowire.Number, raw [][]byte) []byte {
	b := stringFields(name, version, id)
	for _, t := range tensors {
		b = protowire.AppendTag(b, tensorsField, protowire.BytesType)
		b = protowire.AppendBytes(b, t.marshal())
	}
	for _, r := range raw {
		b = protowire.AppendTag(b, rawField, protowire.BytesType)
		b = protowire.AppendBytes(b, r)
	}
	return b
}

func unmarshalInfer(b []byte, name, version, id *string, tensorsField protowire.Number, tensors *[]Tensor, rawField protowire.Number, raw *[][]byte) error {
	return puller.EachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			*name = string(v)
		case 2:
			*version = string(v)
		case 3:
			*id = string(v)
		case tensorsField:
			t, err := unmarshalTensor(v)
			if err != nil {
				return err
			}
			*tensors = append(*tensors, t)
		case rawField:
			*raw = append(*raw, append([]byte(nil), v...))
		}
		return nil
	})
}

// stringFields encodes the non-empty strings as fields 1, 2, ... (proto3 omits empty strings).
func stringFields(fields ...string) []byte {
	var b []byte
	for i, v := range fields {
		if v != "" {
			b = protowire.AppendTag(b, protowire.Number(i+1), protowire.BytesType)
			b = protowire.AppendString(b, v)
		}
	}
	return b
}

func (t Tensor) marshal() []byte {
	b := stringFields(t.Name, t.Datatype)
	if len(t.Shape) > 0 {
		var packed []byte
		for _, d := range t.Shape {
			packed = protowire.AppendVarint(packed, uint64(d))
		}
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, packed)
	}
	if t.FP32 != nil {
		var packed []byte
		for _, f := range t.FP32 {
			packed = protowire.AppendFixed32(packed, math.Float32bits(f))
		}
		contents := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), packed)
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, contents)
	}
	return b
}

func unmarshalTensor(b []byte) (Tensor, error) {
	var t Tensor
	err := puller.EachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			t.Name = string(v)
		case num == 2 && typ == protowire.BytesType:
			t.Datatype = string(v)
		case num == 3:
			shape, err := repeatedVarints(typ, v)
			if err != nil {
				return err
			}
			for _, d := range shape {
				t.Shape = append(t.Shape, int64(d))
			}
		case num == 5 && typ == protowire.BytesType:
			return puller.EachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num != 6 {
					return nil
				}
				fs, err := repeatedFixed32(typ, v)
				for _, f := range fs {
					t.FP32 = append(t.FP32, math.Float32frombits(f))
				}
				return err
			})
		}
		return nil
	})
	return t, err
}

// repeatedVarints reads one field of a repeated varint: packed (proto3's default) or one element.
func repeatedVarints(typ protowire.Type, v []byte) ([]uint64, error) {
	if typ == protowire.VarintType {
		x, _ := protowire.ConsumeVarint(v)
		return []uint64{x}, nil
	}
	var out []uint64
	for len(v) > 0 {
		x, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		out, v = append(out, x), v[n:]
	}
	return out, nil
}

// repeatedFixed32 reads one field of a repeated fixed32/float: packed or one element.
func repeatedFixed32(typ protowire.Type, v []byte) ([]uint32, error) {
	if typ == protowire.Fixed32Type {
		x, _ := protowire.ConsumeFixed32(v)
		return []uint32{x}, nil
	}
	if len(v)%4 != 0 {
		return nil, fmt.Errorf("packed fixed32 field of %d bytes", len(v))
	}
	out := make([]uint32, 0, len(v)/4)
	for ; len(v) > 0; v = v[4:] {
		out = append(out, binary.LittleEndian.Uint32(v))
	}
	return out, nil
}

// stringField reads string field num of message b (ModelReadyRequest/ModelMetadataRequest name = 1,
// RepositoryModelLoadRequest/RepositoryModelUnloadRequest model_name = 2).
func stringField(b []byte, want protowire.Number) (string, error) {
	var s string
	err := puller.EachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == want && typ == protowire.BytesType {
			s = string(v)
		}
		return nil
	})
	return s, err
}

// boolField reads bool field num of message b (RepositoryIndexRequest ready = 2).
func boolField(b []byte, want protowire.Number) (bool, error) {
	var x bool
	err := puller.EachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == want && typ == protowire.VarintType {
			n, _ := protowire.ConsumeVarint(v)
			x = n != 0
		}
		return nil
	})
	return x, err
}

// appendBool appends bool field num when true (ServerLiveResponse live = 1, ServerReadyResponse and
// ModelReadyResponse ready = 1).
func appendBool(b []byte, num protowire.Number, x bool) []byte {
	if !x {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), 1)
}

// Metadata is a ModelMetadataResponse's TensorMetadata: name = 1, datatype = 2, shape = 3.
type Metadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is a ModelMetadataResponse: name = 1, versions = 2, platform = 3, inputs = 4,
// outputs = 5.
type ModelMetadata struct {
	Name, Platform  string
	Versions        []string
	Inputs, Outputs []Metadata
}

// Marshal encodes m.
func (m ModelMetadata) Marshal() []byte {
	b := stringFields(m.Name)
	for _, v := range m.Versions {
		b = protowire.AppendString(protowire.AppendTag(b, 2, protowire.BytesType), v)
	}
	if m.Platform != "" {
		b = protowire.AppendString(protowire.AppendTag(b, 3, protowire.BytesType), m.Platform)
	}
	for i, tensors := range [][]Metadata{m.Inputs, m.Outputs} {
		for _, t := range tensors {
			b = protowire.AppendTag(b, protowire.Number(4+i), protowire.BytesType)
			b = protowire.AppendBytes(b, Tensor{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}.marshal())
		}
	}
	return b
}

// UnmarshalModelMetadata decodes a ModelMetadataResponse.
func UnmarshalModelMetadata(b []byte) (ModelMetadata, error) {
	var m ModelMetadata
	err := puller.EachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			m.Name = string(v)
		case 2:
			m.Versions = append(m.Versions, string(v))
		case 3:
			m.Platform = string(v)
		case 4, 5:
			t, err := unmarshalTensor(v)
			if err != nil {
				return err
			}
			md := Metadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
			if num == 4 {
				m.Inputs = append(m.Inputs, md)
			} else {
				m.Outputs = append(m.Outputs, md)
			}
		}
		return nil
	})
	return m, err
}
