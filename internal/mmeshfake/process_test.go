package mmeshfake

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

// TestInstanceDrivesRealAdapter: one instance in process mode, configured from the environment
// the controller gives the mm container, drives the real MLServer adapter (which pulls from the
// real object store into the MLServer stand-in): a vmodel set as the controller sets an
// InferenceService's loads through loadModel and answers a KServe V2 ModelInfer naming it with
// the model's numbers; a model whose file is not valid records the adapter's own error; deleting
// the vmodel unloads the model from the runtime.
func TestInstanceDrivesRealAdapter(t *testing.T) {
	vgw, bin := os.Getenv(objectstore.BinaryEnv), os.Getenv(puller.MLServerAdapterEnv)
	if vgw == "" || bin == "" {
		t.Skip(objectstore.BinaryEnv + " and " + puller.MLServerAdapterEnv + " must name the binaries: make $(VERSITYGW) $(MLSERVER_ADAPTER) builds them")
	}
	st := needStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const bucket = "modelmesh-example-models"
	settings := []byte(`{"implementation": "` + modelserver.Implementation + `", "parameters": {"uri": "./model.json"}}`)
	store, err := objectstore.Start(ctx, objectstore.Options{
		Binary: vgw, Bucket: bucket, Log: childproc.TestLog(t, "versitygw"),
		Objects: map[string][]byte{
			"linear/model-settings.json": settings, "linear/model.json": []byte(`{"weights": [2, -1], "bias": 0.25}`),
			"broken/model-settings.json": settings, "broken/model.json": []byte(`{"weights": [1, 2`),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	configDir, rootModelDir, mounts := t.TempDir(), t.TempDir(), t.TempDir()
	if err := puller.WriteStorageConfig(configDir, map[string]map[string]string{"localMinIO": {
		"type": "s3", "access_key_id": store.AccessKey, "secret_access_key": store.SecretKey,
		"endpoint_url": store.Endpoint, "bucket": bucket, "region": store.Region,
	}}); err != nil {
		t.Fatal(err)
	}
	server, err := modelserver.Start(modelserver.Options{ModelsDir: puller.MLServerModelsDir(rootModelDir), Log: childproc.TestLog(t, "modelserver")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Stop)
	adapter, err := puller.StartMLServerAdapter(ctx, puller.MLServerAdapterOptions{
		Binary: bin, RuntimePort: server.Port, StorageConfigDir: configDir, RootModelDir: rootModelDir,
		RuntimeVersion: modelserver.Version, Log: childproc.TestLog(t, "adapter"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adapter.Stop)

	// The mounts as the controller writes them: the etcd-config Secret's key and the tc-config
	// ConfigMap's keys (ClusterConfig: type constraints and the dataplane config).
	rootPrefix := "process-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	files := map[string]string{
		"etcd_connection":      `{"endpoints": "` + st.etcdEP + `", "root_prefix": "` + rootPrefix + `"}`,
		"type_constraints":     `{"linear": {"required": ["mt:linear"]}, "_default": {"required": ["_no_runtime"]}}`,
		"dataplane_api_config": `{"rpcConfigs": {"inference.GRPCInferenceService/ModelInfer": {"idExtractionPath": [1], "vModelId": true}}, "allowOtherRpcs": true}`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(mounts, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, adapterPort, _ := net.SplitHostPort(adapter.Addr)
	svcPort, probePort := freeTestPort(t), freeTestPort(t)
	env := map[string]string{
		"MM_SERVICE_NAME": "modelmesh-serving", "MM_SVC_GRPC_PORT": svcPort, "MM_LABELS": "mt:linear,rt:mlserver-1.x",
		"MM_KVSTORE_PREFIX": "mm", "MM_DEFAULT_VMODEL_OWNER": "ksp", "INTERNAL_GRPC_PORT": adapterPort,
		"INTERNAL_SERVING_GRPC_PORT": strconv.Itoa(server.Port), "WKUBE_POD_NAME": "modelmesh-serving-mlserver-1.x-7d9c5b6f4-x2k8q",
		"MM_TYPE_CONSTRAINTS_PATH": filepath.Join(mounts, "type_constraints"), "MM_LOCATION": "10.0.0.7",
		"MM_DATAPLANE_CONFIG_PATH": filepath.Join(mounts, "dataplane_api_config"),
		"KV_STORE":                 "etcd:" + filepath.Join(mounts, "etcd_connection"),
	}
	opts, err := InstanceOptionsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	opts.ProbePort, _ = strconv.Atoi(probePort)
	opts.Logf = t.Logf
	runCtx, stop := context.WithCancel(context.Background())
	var runErr error
	ran := make(chan struct{})
	go func() { runErr = RunInstance(runCtx, opts); close(ran) }()
	t.Cleanup(func() {
		stop()
		<-ran
		if runErr != nil {
			t.Errorf("RunInstance: %v", runErr)
		}
	})
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		select {
		case <-ran:
			return false, errors.Join(errors.New("RunInstance returned"), runErr)
		default:
		}
		resp, err := http.Get("http://localhost:" + probePort + "/ready")
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet; the poll bounds the wait
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("not ready: %v", err)
	}
	const instance = "c5b6f4-x2k8q" // the pod name's last 12 characters (start.sh)
	prefix := rootPrefix + "/mm/modelmesh-serving/"
	rec := etcdJSON[instanceRecord](ctx, t, st, prefix+"instances/"+instance)
	if rec.Location != "10.0.0.7" || !slices.Equal(rec.Labels, []string{"mt:linear", "rt:mlserver-1.x"}) || rec.LoadingThreads != 1 {
		t.Errorf("instances table record %+v, want loc 10.0.0.7, sorted labels, 1 loading thread", rec)
	}

	conn, err := grpc.NewClient("localhost:"+svcPort, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	mm := mmesh.NewModelMeshClient(conn)
	key := `{"storage_key":"localMinIO","model_type":{"name":"linear"}}`
	setVModel := func(vmodel, model, path string) {
		t.Helper()
		// As the controller's modelmesh client sets an InferenceService's vmodel (pkg/mmesh, predictor registry).
		if _, err := mm.SetVModel(ctx, &mmesh.SetVModelRequest{
			VModelId: vmodel, TargetModelId: model, Owner: "ksp", LoadNow: true, AutoDeleteTargetModel: true,
			ModelInfo: &mmesh.ModelInfo{Type: "linear", Path: path, Key: key},
		}); err != nil {
			t.Fatalf("SetVModel %s: %v", vmodel, err)
		}
	}
	waitStatus := func(vmodel string, want mmesh.ModelStatusInfo_ModelStatus) {
		t.Helper()
		var last *mmesh.VModelStatusInfo
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			last, err = mm.GetVModelStatus(ctx, &mmesh.GetVModelStatusRequest{VModelId: vmodel, Owner: "ksp"})
			return err == nil && last.GetActiveModelStatus().GetStatus() == want, nil
		})
		if err != nil {
			t.Fatalf("vmodel %s: %v, want %v", vmodel, last, want)
		}
	}

	setVModel("lin", "lin__isvc-0d6f2c", "linear")
	waitStatus("lin", mmesh.ModelStatusInfo_LOADED)
	if got := server.Loaded(); !slices.Equal(got, []string{"lin__isvc-0d6f2c"}) {
		t.Errorf("the runtime holds %v, want [lin__isvc-0d6f2c]", got)
	}
	mr := etcdJSON[modelRecord](ctx, t, st, prefix+"registry/lin__isvc-0d6f2c")
	if _, ok := mr.InstanceIDs[instance]; !ok || mr.Type != "linear" || mr.MPath != "linear" || mr.EncKey != key || !mr.AutoDel || mr.Refs != 1 {
		t.Errorf("registry record %+v, want a copy on %s, type, path, key, autoDel, 1 ref", mr, instance)
	}

	// KServe V2 inference through model-mesh: model_name names the vmodel; the runtime gets the model id.
	infer := func(name string) (modelserver.InferResponse, error) {
		req := modelserver.InferRequest{ModelName: name, ID: "req-1", Inputs: []modelserver.Tensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{3, 2}, FP32: []float32{1, 1, 3, 2, 0, 4}},
		}}.Marshal()
		var out []byte
		if err := conn.Invoke(ctx, "/"+modelserver.Service+"/ModelInfer", &req, &out, grpc.ForceCodec(puller.Codec{})); err != nil {
			return modelserver.InferResponse{}, err
		}
		return modelserver.UnmarshalInferResponse(out)
	}
	out, err := infer("lin")
	if want := []float32{1.25, 4.25, -3.75}; err != nil || len(out.Outputs) != 1 || !slices.Equal(out.Outputs[0].FP32, want) ||
		out.ModelName != "lin__isvc-0d6f2c" || out.ID != "req-1" {
		t.Errorf("ModelInfer lin = %+v, %v; want %v from model lin__isvc-0d6f2c", out, err, want)
	}
	if _, err := infer("nothing"); status.Code(err) != codes.NotFound || status.Convert(err).Message() != "vmodel not found" {
		t.Errorf("ModelInfer of an unknown vmodel: %v, want NOT_FOUND vmodel not found", err)
	}

	// A model file the runtime cannot read: the adapter's error, as model-mesh records it.
	setVModel("bad", "bad__isvc-1", "broken")
	waitStatus("bad", mmesh.ModelStatusInfo_LOADING_FAILED)
	wantFailure := "INTERNAL: Failed to load Model due to MLServer runtime error: rpc error: code = Internal desc = json.decoder.JSONDecodeError: unexpected EOF"
	if bad := etcdJSON[modelRecord](ctx, t, st, prefix+"registry/bad__isvc-1"); bad.Fails[instance].Msg != wantFailure {
		t.Errorf("failure recorded %+v, want %q on %s", bad.Fails, wantFailure, instance)
	}
	if _, err := infer("bad"); status.Code(err) != codes.Internal || status.Convert(err).Message() != wantFailure {
		t.Errorf("ModelInfer of the failed model: %v, want INTERNAL %q", err, wantFailure)
	}

	// Deleting the vmodel deletes its auto-delete model, which the runtime unloads.
	if _, err := mm.DeleteVModel(ctx, &mmesh.DeleteVModelRequest{VModelId: "lin", Owner: "ksp"}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return len(server.Loaded()) == 0, nil
	}); err != nil {
		t.Errorf("the runtime still holds %v after the vmodel's deletion", server.Loaded())
	}
}

func freeTestPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// etcdJSON reads the JSON record at key.
func etcdJSON[T any](ctx context.Context, t *testing.T, st *stack, key string) T {
	t.Helper()
	var v T
	resp, err := st.etcd.Get(ctx, key)
	if err != nil {
		t.Fatalf("etcd %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("etcd %s: no such key", key)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		t.Fatalf("etcd %s: %v", key, err)
	}
	return v
}
