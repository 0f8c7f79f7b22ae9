package puller_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

const (
	bucket    = "modelmesh-example-models"
	modelPath = "sklearn/mnist-svm.joblib" // as examples/quickstart names it
)

// modelServer stands in for the model server behind the puller (MLServer, Triton, ...): it
// implements ModelRuntime's loadModel and records each request with the bytes at its local path.
type modelServer struct {
	mu    sync.Mutex
	loads []load
}

type load struct {
	req   puller.LoadModelRequest
	bytes []byte
	err   error
}

func (m *modelServer) loadModel(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	req, err := puller.UnmarshalLoadModelRequest(in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	data, readErr := os.ReadFile(req.ModelPath)
	m.mu.Lock()
	m.loads = append(m.loads, load{req, data, readErr})
	m.mu.Unlock()
	if readErr != nil {
		// A real model server cannot load what is not there either; this message is the stand-in's.
		return nil, status.Errorf(codes.NotFound, "stand-in model server: %v", readErr)
	}
	return &[]byte{}, nil // an empty LoadModelResponse
}

func (m *modelServer) recorded() []load {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]load(nil), m.loads...)
}

func startModelServer(t *testing.T) (*modelServer, string) {
	t.Helper()
	m := &modelServer{}
	srv := grpc.NewServer(grpc.ForceServerCodec(puller.Codec{}))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: puller.Service,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: puller.LoadModelMethod, Handler: m.loadModel}},
	}, m)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return m, l.Addr().String()
}

func TestRealPuller(t *testing.T) {
	vgw, bin := os.Getenv(objectstore.BinaryEnv), os.Getenv(puller.BinaryEnv)
	if vgw == "" || bin == "" {
		t.Skip(objectstore.BinaryEnv + " and " + puller.BinaryEnv + " must name the binaries: make $(VERSITYGW) $(PULLER) builds them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	model := []byte("model bytes\x00\x01\x02 the puller must copy unchanged")
	store, err := objectstore.Start(ctx, objectstore.Options{
		Binary: vgw, Bucket: bucket, Objects: map[string][]byte{modelPath: model}, Log: childproc.TestLog(t, "versitygw"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)

	s3 := func(secret string) map[string]string {
		return map[string]string{
			"type": "s3", "access_key_id": store.AccessKey, "secret_access_key": secret,
			"endpoint_url": store.Endpoint, "bucket": bucket, "region": store.Region,
		}
	}
	configDir, modelDir := t.TempDir(), t.TempDir()
	if err := puller.WriteStorageConfig(configDir, map[string]map[string]string{
		"localMinIO": s3(store.SecretKey), "wrongSecret": s3(store.SecretKey + "x"),
	}); err != nil {
		t.Fatal(err)
	}
	server, serverAddr := startModelServer(t)
	p, err := puller.Start(ctx, puller.Options{
		Binary: bin, ModelServer: serverAddr, StorageConfigDir: configDir, RootModelDir: modelDir,
		Log: childproc.TestLog(t, "puller"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)

	// The model key as model-mesh passes it from the InferenceService's storage block.
	key := func(storageKey string) string {
		return `{"storage_key":"` + storageKey + `","model_type":{"name":"sklearn"}}`
	}

	t.Run("load", func(t *testing.T) {
		_, err := p.LoadModel(ctx, puller.LoadModelRequest{
			ModelID: "mnist-svm__isvc-1", ModelType: "sklearn", ModelPath: modelPath, ModelKey: key("localMinIO"),
		})
		if err != nil {
			t.Fatalf("LoadModel: %v", err)
		}
		local := filepath.Join(modelDir, "mnist-svm__isvc-1", "mnist-svm.joblib")
		got, err := os.ReadFile(local)
		if err != nil || !bytes.Equal(got, model) {
			t.Errorf("%s holds %q (%v), want the bytes put", local, got, err)
		}
		loads := server.recorded()
		if len(loads) != 1 {
			t.Fatalf("model server got %d loads, want 1", len(loads))
		}
		if l := loads[0]; l.req.ModelPath != local || l.req.ModelID != "mnist-svm__isvc-1" || !bytes.Equal(l.bytes, model) {
			t.Errorf("model server got %+v with %q (%v), want path %s holding the model", l.req, l.bytes, l.err, local)
		}
	})

	// The puller's own messages, as model-mesh records them (an UNKNOWN status: its text only).
	// reached: whether the puller went on to the model server.
	for _, tc := range []struct {
		name, storageKey, path, want string
		reached                      bool
	}{
		{"key missing from storage-config", "otherMinIO", modelPath,
			"Did not find storage config for key otherMinIO: Storage secretKey not found: otherMinIO", false},
		{"wrong secret", "wrongSecret", modelPath,
			"Failed to pull model from storage due to error: unable to list objects in bucket '" + bucket + "': SignatureDoesNotMatch", false},
		// v0.12.0's puller lists no object, downloads nothing and still passes the local path on
		// (pullman/storageproviders/s3: "no objects to download" is only logged); the model
		// server's failure comes back wrapped.
		{"missing object", "localMinIO", "sklearn/missing.joblib",
			"Failed to load model due to model runtime error: rpc error: code = NotFound desc = stand-in model server:", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(server.recorded())
			_, err := p.LoadModel(ctx, puller.LoadModelRequest{
				ModelID: "m-" + tc.storageKey, ModelType: "sklearn", ModelPath: tc.path, ModelKey: key(tc.storageKey),
			})
			st := status.Convert(err)
			t.Logf("%s: code %s, message %q", tc.name, st.Code(), st.Message())
			if err == nil || !strings.HasPrefix(st.Message(), tc.want) {
				t.Errorf("got %v, want a message starting %q", err, tc.want)
			}
			if reached := len(server.recorded()) > before; reached != tc.reached {
				t.Errorf("model server reached: %v, want %v", reached, tc.reached)
			}
		})
	}
}
