package modelserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"google.golang.org/grpc/codes"
)

// Implementation is the model class whose model-settings.json the stand-in loads: the linear model
// in JSON, as a custom MLServer runtime (an MLModel subclass in the image, named by
// "implementation") would serve it. Any other implementation is a module the image does not have.
const Implementation = "asm_linear.LinearModel"

// OutputName names the one output tensor, as MLServer's SKLearn runtime names its own ("predict").
const OutputName = "predict"

// linearModel is the file's content: {"weights": [w1, ..., wn], "bias": b}; each input row x of n
// FP32 values gives one output w·x + b.
type linearModel struct {
	Weights []float32 `json:"weights"`
	Bias    float32   `json:"bias"`
}

// modelFile is the linear model class's well-known file name in a model folder.
const modelFile = "model.json"

// pythonError is the exception a Python model class would raise, by its import path, with the gRPC
// code MLServer gives it (INTERNAL unless it is one of MLServer's own errors).
type pythonError struct {
	class, msg string
	code       codes.Code
}

func (e *pythonError) Error() string { return e.class + ": " + e.msg }

// loadLinear reads the model file of model name, found as MLServer's runtimes find theirs
// (utils.py get_model_uri): the uri itself when a file, else <uri>/model.json when there, else the
// folder; a uri that is neither is InvalidModelURI (errors.py, HTTP 422: FAILED_PRECONDITION). Other
// failures are named as the Python of a custom model would raise them: open() of a folder
// (IsADirectoryError), json.load of a file that is not JSON (json.decoder.JSONDecodeError, with Go's
// description of the syntax error, not Python's), a document that is not a linear model
// (ValueError, the stand-in's own words).
func loadLinear(name, uri string) (linearModel, error) {
	var m linearModel
	fi, err := os.Stat(uri)
	if err != nil {
		return m, &pythonError{"mlserver.errors.InvalidModelURI", fmt.Sprintf("Invalid URI specified for model %s (%s)", name, uri), codes.FailedPrecondition}
	}
	if fi.IsDir() {
		if f, err := os.Stat(filepath.Join(uri, modelFile)); err == nil && !f.IsDir() {
			uri = filepath.Join(uri, modelFile)
		}
	}
	b, err := os.ReadFile(uri)
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr) && errors.Is(pathErr.Err, syscall.EISDIR):
		return m, &pythonError{"builtins.IsADirectoryError", fmt.Sprintf("[Errno 21] Is a directory: '%s'", uri), codes.Internal}
	case err != nil:
		return m, &pythonError{"builtins.OSError", err.Error(), codes.Internal}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return m, &pythonError{"json.decoder.JSONDecodeError", err.Error(), codes.Internal}
		}
		return m, &pythonError{"builtins.ValueError", fmt.Sprintf("%s is not a linear model: %v", uri, err), codes.Internal}
	}
	if len(m.Weights) == 0 {
		return m, &pythonError{"builtins.ValueError", fmt.Sprintf(`%s is not a linear model: no "weights"`, uri), codes.Internal}
	}
	return m, nil
}

// predict computes one output per row of the one FP32 input, shaped [rows, n] (or [n], one row),
// its values in contents or in the request's first raw buffer. It answers shape [rows, 1].
func (m linearModel) predict(req InferRequest) (Tensor, error) {
	n := len(m.Weights)
	if len(req.Inputs) != 1 {
		return Tensor{}, fmt.Errorf("expected 1 input, got %d", len(req.Inputs))
	}
	in := req.Inputs[0]
	if in.Datatype != "FP32" {
		return Tensor{}, fmt.Errorf("input %s: datatype %s, expected FP32", in.Name, in.Datatype)
	}
	values := in.FP32
	if len(req.RawInputContents) > 0 {
		raw := req.RawInputContents[0]
		if len(raw)%4 != 0 {
			return Tensor{}, fmt.Errorf("input %s: raw contents of %d bytes are not FP32 values", in.Name, len(raw))
		}
		values = make([]float32, len(raw)/4)
		for i := range values {
			values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	var rows int64
	switch {
	case len(in.Shape) == 1 && in.Shape[0] == int64(n):
		rows = 1
	case len(in.Shape) == 2 && in.Shape[1] == int64(n):
		rows = in.Shape[0]
	default:
		return Tensor{}, fmt.Errorf("input %s: shape %v, expected [rows, %d]", in.Name, in.Shape, n)
	}
	if int64(len(values)) != rows*int64(n) {
		return Tensor{}, fmt.Errorf("input %s: %d values for shape %v", in.Name, len(values), in.Shape)
	}
	out := Tensor{Name: OutputName, Datatype: "FP32", Shape: []int64{rows, 1}, FP32: make([]float32, rows)}
	for r := range out.FP32 {
		sum := m.Bias
		for j, w := range m.Weights {
			sum += w * values[r*n+j]
		}
		out.FP32[r] = sum
	}
	return out, nil
}

// fp32Raw is values as a raw_*_contents buffer: little-endian FP32, row-major (KServe v2 protocol).
func fp32Raw(values []float32) []byte {
	b := make([]byte, 0, 4*len(values))
	for _, v := range values {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
