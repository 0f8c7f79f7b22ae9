// Package puller runs the real model-serving-puller of github.com/kserve/modelmesh-runtime-adapter
// (pinned in tools/puller) outside a container, for tests: the adapter container of a ModelMesh
// runtime Pod, which reads the mounted storage-config Secret, pulls a model from storage into a
// local folder and passes LoadModel on to the model server with the local path.
//
// It speaks model-mesh's ModelRuntime gRPC API (the adapter's internal/proto/mmesh/model-runtime.proto,
// package mmesh). The adapter's generated code is internal to its module, so the few messages
// used here are encoded by field number with protowire and sent through a pass-through codec.
package puller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
)

// BinaryEnv names the model-serving-puller binary (make's $(PULLER): built by tools/go-tool.sh).
const BinaryEnv = "PULLER"

// Service and LoadModelMethod name the ModelRuntime API's service and its loadModel method
// (model-runtime.proto: package mmesh, service ModelRuntime, rpc loadModel).
const (
	Service         = "mmesh.ModelRuntime"
	LoadModelMethod = "loadModel"
)

// LoadModelRequest is model-runtime.proto's LoadModelRequest: modelId = 1, modelType = 2,
// modelPath = 3, modelKey = 4 (all strings).
type LoadModelRequest struct {
	ModelID, ModelType, ModelPath, ModelKey string
}

// Marshal encodes r in protobuf wire format.
func (r LoadModelRequest) Marshal() []byte {
	var b []byte
	for i, v := range []string{r.ModelID, r.ModelType, r.ModelPath, r.ModelKey} {
		if v != "" {
			b = protowire.AppendTag(b, protowire.Number(i+1), protowire.BytesType)
			b = protowire.AppendString(b, v)
		}
	}
	return b
}

// UnmarshalLoadModelRequest decodes b, skipping fields it does not know.
func UnmarshalLoadModelRequest(b []byte) (LoadModelRequest, error) {
	var r LoadModelRequest
	fields := []*string{&r.ModelID, &r.ModelType, &r.ModelPath, &r.ModelKey}
	err := EachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ == protowire.BytesType && num >= 1 && int(num) <= len(fields) {
			*fields[num-1] = string(v)
		}
		return nil
	})
	return r, err
}

// Codec passes messages through as *[]byte, already in wire format. Its name is "proto", the
// content subtype the adapter's generated clients and servers send.
type Codec struct{}

func (Codec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("puller.Codec: %T is not *[]byte", v)
	}
	return *b, nil
}

func (Codec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("puller.Codec: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (Codec) Name() string { return "proto" }

// Options configure Start, each as the runtime Pod's adapter container gets it.
type Options struct {
	Binary           string // model-serving-puller; required
	ModelServer      string // the model server's ModelRuntime address (MODEL_SERVER_ENDPOINT=port:N): 127.0.0.1 or localhost:N
	StorageConfigDir string // the storage-config Secret's mount, one file per key (STORAGE_CONFIG_DIR)
	RootModelDir     string // where models are pulled to (ROOT_MODEL_DIR)
	Log              io.Writer
}

// Puller is a running model-serving-puller or runtime adapter: a ModelRuntime server.
type Puller struct {
	Addr string // its ModelRuntime API, localhost:<port>
	conn *grpc.ClientConn
	proc *childproc.Proc
}

// Start runs the puller. The model server must already listen: the puller dials it first and
// exits when it cannot connect within 3 s (server.StartServer).
func Start(ctx context.Context, opts Options) (*Puller, error) {
	if opts.Binary == "" {
		return nil, errors.New("puller: no model-serving-puller binary (set " + BinaryEnv + "; make builds it as $(PULLER))")
	}
	_, serverPort, err := net.SplitHostPort(opts.ModelServer)
	if err != nil {
		return nil, fmt.Errorf("puller: model server address: %w", err)
	}
	// Only "port:N" (localhost) or "unix:" endpoints are accepted (internal/util/connect.go).
	return start(ctx, "puller", opts.Binary, "PORT", opts.Log, "MODEL_SERVER_ENDPOINT=port:"+serverPort,
		"STORAGE_CONFIG_DIR="+opts.StorageConfigDir, "ROOT_MODEL_DIR="+opts.RootModelDir, "LOG_LEVEL=debug")
}

// start runs binary with env and portEnv set to a free port, and connects to its ModelRuntime API
// once it listens.
func start(ctx context.Context, name, binary, portEnv string, log io.Writer, env ...string) (*Puller, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Puller{Addr: net.JoinHostPort("localhost", port)}
	cmd := exec.Command(binary)
	cmd.Env = append(append(os.Environ(), portEnv+"="+port), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if p.proc, err = childproc.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := p.proc.WaitReady(ctx, "listen on "+p.Addr, p.listening); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.conn, err = dial(p.Addr); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Dial connects to a ModelRuntime server running elsewhere (an adapter container, reached through
// a port forward), as model-mesh does; Stop closes the connection only.
func Dial(addr string) (*Puller, error) {
	conn, err := dial(addr)
	return &Puller{Addr: addr, conn: conn}, err
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(Codec{})))
}

// freePort is a loopback port free now; the puller listens on it (it takes no port 0).
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, l.Close()
}

func (p *Puller) listening() bool {
	c, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// LoadModelResponse is model-runtime.proto's LoadModelResponse: sizeInBytes = 1 (uint64),
// maxConcurrency = 2 (uint32).
type LoadModelResponse struct {
	SizeInBytes    uint64
	MaxConcurrency uint32
}

// LoadModel calls the puller's loadModel as model-mesh does; the error is the puller's gRPC status.
func (p *Puller) LoadModel(ctx context.Context, req LoadModelRequest) (LoadModelResponse, error) {
	var r LoadModelResponse
	in, out := req.Marshal(), []byte(nil)
	if err := p.conn.Invoke(ctx, "/"+Service+"/"+LoadModelMethod, &in, &out); err != nil {
		return r, err
	}
	err := EachField(out, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ == protowire.VarintType && (num == 1 || num == 2) {
			x, _ := protowire.ConsumeVarint(v)
			if num == 1 {
				r.SizeInBytes = x
			} else {
				r.MaxConcurrency = uint32(x)
			}
		}
		return nil
	})
	return r, err
}

// UnloadModel calls unloadModel (UnloadModelRequest: modelId = 1).
func (p *Puller) UnloadModel(ctx context.Context, modelID string) error {
	in := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), modelID)
	var out []byte
	return p.conn.Invoke(ctx, "/"+Service+"/unloadModel", &in, &out)
}

// RuntimeStatus is what this package reads of model-runtime.proto's RuntimeStatusResponse:
// status = 1 (STARTING 0, READY 1, FAILING 2), capacityInBytes = 2, maxLoadingConcurrency = 3,
// modelLoadingTimeoutMs = 4, runtimeVersion = 6, methodInfos = 8 (map<string, MethodInfo>, each
// MethodInfo's idInjectionPath = 1, repeated uint32).
type RuntimeStatus struct {
	Status                uint64
	CapacityInBytes       uint64
	MaxLoadingConcurrency uint64
	ModelLoadingTimeoutMs uint64
	RuntimeVersion        string
	// MethodInfos maps a full method name ("inference.GRPCInferenceService/ModelInfer") to the
	// field path where model-mesh puts the model id into its requests.
	MethodInfos map[string][]uint64
}

// RuntimeStatusReady is RuntimeStatusResponse.Status READY.
const RuntimeStatusReady = 1

// RuntimeStatus calls runtimeStatus (an empty RuntimeStatusRequest), as model-mesh does until the
// runtime says READY before it loads anything.
func (p *Puller) RuntimeStatus(ctx context.Context) (RuntimeStatus, error) {
	var r RuntimeStatus
	in, out := []byte{}, []byte(nil)
	if err := p.conn.Invoke(ctx, "/"+Service+"/runtimeStatus", &in, &out); err != nil {
		return r, err
	}
	err := EachField(out, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			r.Status, _ = protowire.ConsumeVarint(v)
		case num == 2 && typ == protowire.VarintType:
			r.CapacityInBytes, _ = protowire.ConsumeVarint(v)
		case num == 3 && typ == protowire.VarintType:
			r.MaxLoadingConcurrency, _ = protowire.ConsumeVarint(v)
		case num == 4 && typ == protowire.VarintType:
			r.ModelLoadingTimeoutMs, _ = protowire.ConsumeVarint(v)
		case num == 6 && typ == protowire.BytesType:
			r.RuntimeVersion = string(v)
		case num == 8 && typ == protowire.BytesType:
			method, path, err := methodInfo(v)
			if err != nil {
				return err
			}
			if r.MethodInfos == nil {
				r.MethodInfos = map[string][]uint64{}
			}
			r.MethodInfos[method] = path
		}
		return nil
	})
	return r, err
}

// methodInfo decodes one methodInfos map entry (key = 1, value = 2): the method and its
// idInjectionPath, packed or not.
func methodInfo(entry []byte) (method string, path []uint64, err error) {
	err = EachField(entry, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			method = string(v)
		case num == 2 && typ == protowire.BytesType:
			return EachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch {
				case num == 1 && typ == protowire.VarintType:
					x, _ := protowire.ConsumeVarint(v)
					path = append(path, x)
				case num == 1 && typ == protowire.BytesType:
					for len(v) > 0 {
						x, n := protowire.ConsumeVarint(v)
						if n < 0 {
							return protowire.ParseError(n)
						}
						path, v = append(path, x), v[n:]
					}
				}
				return nil
			})
		}
		return nil
	})
	return method, path, err
}

// EachField calls fn with each field of the protobuf message b in order: its number, its wire type
// and its value (a length-delimited field's content without the length; otherwise the value's
// bytes as protowire.ConsumeFieldValue delimits them). It stops at the first error.
func EachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		v := b[:m]
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(v)
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// Stop ends the puller, or the connection of Dial.
func (p *Puller) Stop() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	if p.proc != nil {
		p.proc.Stop()
	}
}
