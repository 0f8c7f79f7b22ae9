package modelserver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

const bucket = "modelmesh-example-models"

// settingsJSON is a model-settings.json in MLServer's native layout, as a custom model is stored:
// the adapter names the model after model-mesh's id and makes the relative uri absolute
// (server.go processConfigJSON).
func settingsJSON(implementation string) []byte {
	return []byte(`{"implementation": "` + implementation + `", "parameters": {"uri": "./model.json"},
		"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
		"outputs": [{"name": "predict", "datatype": "FP32", "shape": [-1, 1]}]}`)
}

// TestRealAdapterLoadsIntoStandIn runs real storage, the stand-in model server and the real MLServer
// adapter as the mlserver-1.x runtime Pod runs them, and drives the adapter as model-mesh does.
func TestRealAdapterLoadsIntoStandIn(t *testing.T) {
	vgw, bin := os.Getenv(objectstore.BinaryEnv), os.Getenv(puller.MLServerAdapterEnv)
	if vgw == "" || bin == "" {
		t.Skip(objectstore.BinaryEnv + " and " + puller.MLServerAdapterEnv +
			" must name the binaries: make $(VERSITYGW) $(MLSERVER_ADAPTER) builds them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	linear := []byte(`{"weights": [1, 2, 3], "bias": 0.5}`)
	objects := map[string][]byte{
		"linear/model-settings.json": settingsJSON(modelserver.Implementation),
		"linear/model.json":          linear,
		"broken/model-settings.json": settingsJSON(modelserver.Implementation),
		"broken/model.json":          []byte(`{"weights": [1, 2`),
		// The quickstart's runtime class, which the stand-in's image does not have.
		"custom/model-settings.json": settingsJSON("custom_model.CustomMLModel"),
		"custom/model.json":          linear,
	}
	store, err := objectstore.Start(ctx, objectstore.Options{
		Binary: vgw, Bucket: bucket, Objects: objects, Log: childproc.TestLog(t, "versitygw"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)

	configDir, rootModelDir := t.TempDir(), t.TempDir()
	if err := puller.WriteStorageConfig(configDir, map[string]map[string]string{"localMinIO": {
		"type": "s3", "access_key_id": store.AccessKey, "secret_access_key": store.SecretKey,
		"endpoint_url": store.Endpoint, "bucket": bucket, "region": store.Region,
	}}); err != nil {
		t.Fatal(err)
	}
	modelsDir := puller.MLServerModelsDir(rootModelDir)
	server, err := modelserver.Start(modelserver.Options{
		ModelsDir: modelsDir, LoadTime: 500 * time.Millisecond, Log: childproc.TestLog(t, "modelserver"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Stop)
	adapter, err := puller.StartMLServerAdapter(ctx, puller.MLServerAdapterOptions{
		Binary: bin, RuntimePort: server.Port, StorageConfigDir: configDir, RootModelDir: rootModelDir,
		RuntimeVersion: "1.3.2", Log: childproc.TestLog(t, "adapter"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adapter.Stop)

	call := dial(t, server)
	infer := func(req modelserver.InferRequest) (modelserver.InferResponse, error) {
		out, err := call(ctx, "ModelInfer", req.Marshal())
		if err != nil {
			return modelserver.InferResponse{}, err
		}
		return modelserver.UnmarshalInferResponse(out)
	}
	key := func(name string) string {
		return `{"storage_key":"localMinIO","model_type":{"name":"` + name + `"}}`
	}
	load := func(id, path string) (puller.LoadModelResponse, error) {
		return adapter.LoadModel(ctx, puller.LoadModelRequest{ModelID: id, ModelType: "linear", ModelPath: path, ModelKey: key("linear")})
	}

	// model-mesh asks runtimeStatus until READY before it places a model; the adapter answers from
	// MLServer's ServerReady, RepositoryIndex and ServerMetadata, its capacity the mlserver
	// container's memory request less MEM_BUFFER_BYTES.
	st, err := adapter.RuntimeStatus(ctx)
	if err != nil {
		t.Fatalf("runtimeStatus: %v", err)
	}
	if st.Status != puller.RuntimeStatusReady || st.CapacityInBytes != 1<<30-134217728 || st.RuntimeVersion != modelserver.Version {
		t.Errorf("runtimeStatus = %+v, want READY, capacity %d, version %s", st, 1<<30-134217728, modelserver.Version)
	}

	const id = "linear__isvc-6d5b3a"
	t.Run("load, infer, unload", func(t *testing.T) {
		resp, err := load(id, "linear")
		if err != nil {
			t.Fatalf("loadModel: %v", err)
		}
		// The size is the pulled files' size times MODELSIZE_MULTIPLIER's default 1.25
		// (util.CalcMemCapacity with the puller's disk_size_bytes).
		if want := uint64(float64(len(objects["linear/model-settings.json"])+len(linear)) * 1.25); resp.SizeInBytes != want {
			t.Errorf("loadModel size %d, want %d", resp.SizeInBytes, want)
		}
		if got := server.Loaded(); !slices.Equal(got, []string{id}) {
			t.Fatalf("stand-in holds %v, want [%s]", got, id)
		}

		metaOut, err := call(ctx, "ModelMetadata", field(1, id))
		if err != nil {
			t.Fatalf("ModelMetadata: %v", err)
		}
		meta, err := modelserver.UnmarshalModelMetadata(metaOut)
		if err != nil || meta.Name != id || len(meta.Inputs) != 1 || !slices.Equal(meta.Inputs[0].Shape, []int64{-1, 3}) {
			t.Errorf("ModelMetadata = %+v (%v), want %s with the stored settings' input [-1 3]", meta, err, id)
		}

		x := []float32{1, 1, 1, 0, 1, 2}
		want := []float32{6.5, 8.5} // 1+2+3+0.5, 0+2+6+0.5
		out, err := infer(modelserver.InferRequest{ModelName: id, ID: "req-1", Inputs: []modelserver.Tensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{2, 3}, FP32: x},
		}})
		if err != nil {
			t.Fatalf("ModelInfer: %v", err)
		}
		if len(out.Outputs) != 1 || out.ID != "req-1" || !slices.Equal(out.Outputs[0].FP32, want) ||
			!slices.Equal(out.Outputs[0].Shape, []int64{2, 1}) {
			t.Errorf("ModelInfer = %+v, want id req-1, output %v shaped [2 1]", out, want)
		}
		// Raw input in, raw output out, as MLServer answers.
		raw := make([]byte, 0, 24)
		for _, v := range x {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
		out, err = infer(modelserver.InferRequest{ModelName: id, Inputs: []modelserver.Tensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{2, 3}},
		}, RawInputContents: [][]byte{raw}})
		if err != nil || len(out.RawOutputContents) != 1 || len(out.RawOutputContents[0]) != 8 ||
			math.Float32frombits(binary.LittleEndian.Uint32(out.RawOutputContents[0][4:])) != want[1] {
			t.Errorf("raw ModelInfer = %+v (%v), want raw output %v", out, err, want)
		}
		_, err = infer(modelserver.InferRequest{ModelName: id, Inputs: []modelserver.Tensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{1, 2}, FP32: []float32{1, 2}},
		}})
		if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "builtins.ValueError: input x: shape [1 2], expected [rows, 3]" {
			t.Errorf("ModelInfer of a wrong shape: %v, want INTERNAL builtins.ValueError", err)
		}

		if err := adapter.UnloadModel(ctx, id); err != nil {
			t.Fatalf("unloadModel: %v", err)
		}
		if got := server.Loaded(); len(got) != 0 {
			t.Errorf("stand-in still holds %v after unloadModel", got)
		}
		if _, err := os.Stat(filepath.Join(modelsDir, id)); !os.IsNotExist(err) {
			t.Errorf("the adapter's layout of %s is still there after unloadModel (%v)", id, err)
		}
		_, err = infer(modelserver.InferRequest{ModelName: id, Inputs: []modelserver.Tensor{{Name: "x", Datatype: "FP32", Shape: []int64{3}, FP32: x[:3]}}})
		if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "Model "+id+" not found" {
			t.Errorf("ModelInfer after unload: %v, want NOT_FOUND Model %s not found", err, id)
		}
		// Unloading again is no error: the adapter takes MLServer's NOT_FOUND as unloaded.
		if err := adapter.UnloadModel(ctx, id); err != nil {
			t.Errorf("second unloadModel: %v", err)
		}
	})

	// The real adapter's messages as model-mesh receives them (the code the adapter keeps).
	for _, tc := range []struct {
		name, id, path string
		code           codes.Code
		want           string
	}{
		{"model file not valid", "broken__isvc-1", "broken", codes.Internal,
			"Failed to load Model due to MLServer runtime error: rpc error: code = Internal desc = json.decoder.JSONDecodeError: unexpected EOF"},
		{"runtime class missing from the image", "custom__isvc-1", "custom", codes.Internal,
			"Failed to load Model due to MLServer runtime error: rpc error: code = Internal desc = No module named 'custom_model'"},
		// v0.12.0's puller lists nothing, downloads nothing and passes <ROOT_MODEL_DIR>/<id>/<file>
		// on; the adapter's layout step cannot stat it (internal/mmeshfake says this with /models).
		{"missing object", "missing__isvc-1", "missing/model.json", codes.Unknown,
			"Failed to load Model due to adapter error: Error calling stat on " + filepath.Join(rootModelDir, "missing__isvc-1", "model.json") +
				": stat " + filepath.Join(rootModelDir, "missing__isvc-1", "model.json") + ": no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.id, tc.path)
			st := status.Convert(err)
			t.Logf("%s: code %s, message %q", tc.name, st.Code(), st.Message())
			if err == nil || st.Code() != tc.code || st.Message() != tc.want {
				t.Errorf("loadModel: %v, want %s %q", err, tc.code, tc.want)
			}
			if got := server.Loaded(); len(got) != 0 {
				t.Errorf("stand-in holds %v after a failed load", got)
			}
		})
	}
}

// field is a message of one string field: ModelReadyRequest/ModelMetadataRequest name = 1,
// RepositoryModelLoadRequest/RepositoryModelUnloadRequest model_name = 2.
func field(num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
}

// dial connects to the stand-in; the function it returns calls one of its methods.
func dial(t *testing.T, server *modelserver.Server) func(ctx context.Context, method string, in []byte) ([]byte, error) {
	conn, err := grpc.NewClient(server.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(puller.Codec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return func(ctx context.Context, method string, in []byte) ([]byte, error) {
		var out []byte
		err := conn.Invoke(ctx, "/"+modelserver.Service+"/"+method, &in, &out)
		return out, err
	}
}

// TestStandIn drives the stand-in as the adapter and model-mesh do, with the folder the adapter
// writes, and needs no binary: the states of a slow load and MLServer's errors.
func TestStandIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	write := func(folder, settings, model string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, folder), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{"model-settings.json": settings, "model.json": model} {
			if err := os.WriteFile(filepath.Join(dir, folder, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// As the adapter lays them out: named after model-mesh's id, the uri made absolute.
	write("m1", `{"name": "m1", "implementation": "`+modelserver.Implementation+`", "parameters": {"uri": "`+
		filepath.Join(dir, "m1", "model.json")+`"}}`, `{"weights": [2], "bias": -1}`)
	write("no-impl", `{"name": "no-impl", "parameters": {"uri": "./model.json"}}`, `{"weights": [2]}`)
	write("no-file", `{"name": "no-file", "implementation": "`+modelserver.Implementation+`", "parameters": {"uri": "./gone.json"}}`, ``)
	write("no-class", `{"name": "no-class", "implementation": "asm_linear.Other"}`, `{"weights": [2]}`)
	write("no-weights", `{"name": "no-weights", "implementation": "`+modelserver.Implementation+`"}`, `{"bias": 1}`)

	const loadTime = 2 * time.Second
	server, err := modelserver.Start(modelserver.Options{ModelsDir: dir, LoadTime: loadTime, Log: childproc.TestLog(t, "modelserver")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Stop)
	call := dial(t, server)
	ready := func(method string, in []byte) bool {
		t.Helper()
		out, err := call(ctx, method, in)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return len(out) > 0 // ready = 1 is encoded only when true
	}
	infer := func(name string) error {
		_, err := call(ctx, "ModelInfer", modelserver.InferRequest{ModelName: name, Inputs: []modelserver.Tensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{1}, FP32: []float32{3}},
		}}.Marshal())
		return err
	}
	wantStatus := func(what string, err error, code codes.Code, msg string) {
		t.Helper()
		if st := status.Convert(err); st.Code() != code || st.Message() != msg {
			t.Errorf("%s: %v, want %s %q", what, err, code, msg)
		}
	}

	if !ready("ServerReady", nil) || !ready("ServerLive", nil) {
		t.Error("a server without models is not live and ready")
	}
	_, err = call(ctx, "ModelReady", field(1, "m1"))
	wantStatus("ModelReady of an unknown model", err, codes.Unknown, "Unexpected <class 'mlserver.errors.ModelNotFound'>: Model m1 not found")

	loaded := make(chan error, 1)
	go func() {
		_, err := call(ctx, "RepositoryModelLoad", field(2, "m1"))
		loaded <- err
	}()
	start := time.Now()
	// While it loads (LoadTime, seconds): registered, not ready.
	if err := waitFor(ctx, func() bool { _, err := call(ctx, "ModelReady", field(1, "m1")); return err == nil }); err != nil {
		t.Fatalf("m1 never registered: %v", err)
	}
	if ready("ModelReady", field(1, "m1")) || ready("ServerReady", nil) {
		t.Error("m1 or the server ready while m1 loads")
	}
	wantStatus("ModelInfer while loading", infer("m1"), codes.InvalidArgument, "Model m1 is not ready yet.")
	if time.Since(start) >= loadTime {
		t.Fatalf("the checks during the load took longer than the load (%s); nothing was observed", loadTime)
	}
	if err := <-loaded; err != nil {
		t.Fatalf("RepositoryModelLoad m1: %v", err)
	}
	if !ready("ModelReady", field(1, "m1")) || !ready("ServerReady", nil) {
		t.Error("m1 or the server not ready after the load")
	}
	out, err := call(ctx, "ModelInfer", modelserver.InferRequest{ModelName: "m1", Inputs: []modelserver.Tensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{3, 1}, FP32: []float32{0, 1, 3}},
	}}.Marshal())
	resp, _ := modelserver.UnmarshalInferResponse(out)
	if err != nil || len(resp.Outputs) != 1 || !slices.Equal(resp.Outputs[0].FP32, []float32{-1, 1, 5}) {
		t.Errorf("ModelInfer m1 = %+v (%v), want [-1 1 5]", resp, err)
	}
	index, err := call(ctx, "RepositoryIndex", protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1))
	if err != nil || !bytes.Contains(index, []byte("m1")) || !bytes.Contains(index, []byte("READY")) || bytes.Contains(index, []byte("no-file")) {
		t.Errorf("RepositoryIndex(ready) = %q (%v), want m1 READY only", index, err)
	}

	for _, tc := range []struct {
		name string
		code codes.Code
		msg  string
	}{
		{"no-impl", codes.NotFound, "Model no-impl not found"},
		{"no-class", codes.Internal, `ensure this value contains valid import path or valid callable: Module "asm_linear" does not define a "Other" attribute`},
		{"no-file", codes.FailedPrecondition, "mlserver.errors.InvalidModelURI: Invalid URI specified for model no-file (" + filepath.Join(dir, "no-file", "gone.json") + ")"},
		// No uri: the folder, and in it model.json.
		{"no-weights", codes.Internal, "builtins.ValueError: " + filepath.Join(dir, "no-weights", "model.json") + ` is not a linear model: no "weights"`},
		{"absent", codes.NotFound, "Model absent not found"},
	} {
		_, err := call(ctx, "RepositoryModelLoad", field(2, tc.name))
		wantStatus("RepositoryModelLoad "+tc.name, err, tc.code, tc.msg)
	}
	if got := server.Loaded(); !slices.Equal(got, []string{"m1"}) {
		t.Errorf("loaded %v after the failed loads, want [m1]", got)
	}

	if _, err := call(ctx, "RepositoryModelUnload", field(2, "m1")); err != nil {
		t.Fatalf("RepositoryModelUnload m1: %v", err)
	}
	_, err = call(ctx, "RepositoryModelUnload", field(2, "m1"))
	wantStatus("RepositoryModelUnload of an unloaded model", err, codes.NotFound, "Model m1 not found")
	wantStatus("ModelInfer after unload", infer("m1"), codes.NotFound, "Model m1 not found")

	// The runtime's class from MLSERVER_MODEL_IMPLEMENTATION, for settings that name none, served
	// when the image has it.
	server2, err := modelserver.Start(modelserver.Options{
		ModelsDir: dir, Implementations: []string{"custom_model.CustomMLModel"}, DefaultImplementation: "custom_model.CustomMLModel",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server2.Stop)
	call2 := dial(t, server2)
	if _, err := call2(ctx, "RepositoryModelLoad", field(2, "no-impl")); err != nil {
		t.Errorf("RepositoryModelLoad no-impl with MLSERVER_MODEL_IMPLEMENTATION: %v", err)
	}
	_, err = call2(ctx, "RepositoryModelLoad", field(2, "m1"))
	wantStatus("RepositoryModelLoad of a class the image lacks", err, codes.Internal, "No module named 'asm_linear'")
}

// waitFor polls cond every 50 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
