// Package modelserver is a stand-in for the MLServer model server of a ModelMesh runtime Pod (the
// mlserver container of the mlserver-1.x runtime, seldonio/mlserver 1.3.2 in ModelMesh Serving
// v0.12.0's config/runtimes): a gRPC server with what the real MLServer adapter
// (model-mesh-mlserver-adapter, internal/puller) calls on it and what model-mesh forwards to it,
// the KServe v2 protocol with MLServer's model repository methods. MLServer cannot run here (a
// Python server), so this one serves a single tiny model format, a linear model in JSON
// (linear.go), and otherwise answers as MLServer 1.3.2 does; each behaviour cites MLServer's source
// (github.com/SeldonIO/MLServer at tag 1.3.2).
package modelserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

// Version is the MLServer release imitated; ServerMetadata answers it (settings.server_version),
// and the adapter takes it as the runtime version (server.go RuntimeStatus).
const Version = "1.3.2"

// Options configure Start as the mlserver container's environment configures MLServer.
type Options struct {
	// ModelsDir is MLSERVER_MODELS_DIR, where the adapter lays out one folder per model with its
	// model-settings.json (<ROOT_MODEL_DIR>/_mlserver_models: puller.MLServerModelsDir).
	ModelsDir string
	// LoadTime is how long a load takes before the model file is read; meanwhile the model is
	// registered but not ready, as in MLServer while its runtime's load() runs (registry.py
	// _load_model): ServerReady is false, ModelInfer is ModelNotReady.
	LoadTime time.Duration
	// Implementations are the model classes ("module.Class") the server's image has, each serving
	// the linear model in JSON; default Implementation. A runtime whose MLServer preset names its
	// class (asm_serving_runtime's implementation) is served by listing that class here.
	Implementations []string
	// DefaultImplementation is MLSERVER_MODEL_IMPLEMENTATION, the class of a model-settings.json
	// that names none (ModelSettings reads its fields from the environment, prefix MLSERVER_MODEL_,
	// settings.py), as the adapter writes for a model type it has no class for (server.go
	// generateModelConfigJSON).
	DefaultImplementation string
	// Addr is where to listen, MLSERVER_HOST:MLSERVER_GRPC_PORT in a runtime Pod (cmd/mlserver);
	// "" is a free port on 127.0.0.1 (MLSERVER_HOST in mlserver-1.x.yaml).
	Addr string
	Log  io.Writer // nil: discarded
}

// Server is a running stand-in.
type Server struct {
	Port int // its gRPC port (MLSERVER_GRPC_PORT; the adapter's RUNTIME_PORT)

	opts Options
	srv  *grpc.Server
	log  *log.Logger

	mu     sync.Mutex
	models map[string]*model // registered, by name (MLServer's MultiModelRegistry)
}

// model is a registered model: its settings and, once ready, the linear model they name.
type model struct {
	settings settings
	ready    bool
	linear   linearModel
}

// Start listens on opts.Addr and serves.
func Start(opts Options) (*Server, error) {
	if opts.ModelsDir == "" {
		return nil, errors.New("modelserver: no models folder (MLSERVER_MODELS_DIR)")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if len(opts.Implementations) == 0 {
		opts.Implementations = []string{Implementation}
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("modelserver: %w", err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	s := &Server{
		opts: opts, models: map[string]*model{},
		log: log.New(opts.Log, "", 0), srv: grpc.NewServer(grpc.ForceServerCodec(puller.Codec{})),
	}
	methods := map[string]func(context.Context, []byte) ([]byte, error){
		"ServerLive":            s.serverLive,
		"ServerReady":           s.serverReady,
		"ModelReady":            s.modelReady,
		"ServerMetadata":        s.serverMetadata,
		"ModelMetadata":         s.modelMetadata,
		"ModelInfer":            s.modelInfer,
		"RepositoryIndex":       s.repositoryIndex,
		"RepositoryModelLoad":   s.repositoryModelLoad,
		"RepositoryModelUnload": s.repositoryModelUnload,
	}
	desc := grpc.ServiceDesc{ServiceName: Service, HandlerType: (*any)(nil)}
	for name, fn := range methods {
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: name, Handler: s.handler(name, fn)})
	}
	if s.Port, err = strconv.Atoi(port); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("modelserver: %w", err)
	}
	s.srv.RegisterService(&desc, s)
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// handler adapts fn to grpc's unary handler with the pass-through codec.
func (s *Server) handler(name string, fn func(context.Context, []byte) ([]byte, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			s.log.Printf("%s: %v", name, err)
			return nil, err
		}
		return &out, nil
	}
}

// Stop ends the server.
func (s *Server) Stop() { s.srv.Stop() }

// Loaded names the loaded models, sorted.
func (s *Server) Loaded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.models))
	for n, m := range s.models {
		if m.ready {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// notFound is MLServer's ModelNotFound (errors.py: "Model {name} not found", HTTP 404), which
// handle_mlserver_error (grpc/utils.py) turns into NOT_FOUND.
func notFound(name string) error {
	return status.Errorf(codes.NotFound, "Model %s not found", name)
}

// model is a copy of the registered model name.
func (s *Server) model(name string) (model, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.models[name]
	if !ok {
		return model{}, false
	}
	return *m, true
}

// serverLive: DataPlane.live is always True (handlers/dataplane.py).
func (s *Server) serverLive(context.Context, []byte) ([]byte, error) {
	return appendBool(nil, 1, true), nil
}

// serverReady: DataPlane.ready is whether every registered model is ready, True with none.
func (s *Server) serverReady(context.Context, []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.models {
		if !m.ready {
			return []byte{}, nil
		}
	}
	return appendBool(nil, 1, true), nil
}

// modelReady: DataPlane.model_ready raises ModelNotFound for an unknown model; InferenceServicer.
// ModelReady has no handle_mlserver_error (grpc/servicers.py), so grpcio's aio server answers the
// uncaught exception with UNKNOWN, "Unexpected <class '...'>: <message>".
func (s *Server) modelReady(_ context.Context, in []byte) ([]byte, error) {
	name, err := stringField(in, 1)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	m, ok := s.model(name)
	if !ok {
		return nil, status.Errorf(codes.Unknown, "Unexpected <class 'mlserver.errors.ModelNotFound'>: Model %s not found", name)
	}
	return appendBool(nil, 1, m.ready), nil
}

// serverMetadata: name "mlserver", its version, no extensions (settings.py server_name,
// server_version, extensions); ServerMetadataResponse name = 1, version = 2.
func (s *Server) serverMetadata(context.Context, []byte) ([]byte, error) {
	return stringFields("mlserver", Version), nil
}

// modelMetadata: MLModel.metadata answers the model-settings' name, platform, versions, inputs and
// outputs (model.py); an unknown model is ModelNotFound.
func (s *Server) modelMetadata(_ context.Context, in []byte) ([]byte, error) {
	name, err := stringField(in, 1)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	m, ok := s.model(name)
	if !ok {
		return nil, notFound(name)
	}
	return ModelMetadata{
		Name: name, Platform: m.settings.Platform, Versions: m.settings.Versions,
		Inputs: m.settings.Inputs, Outputs: m.settings.Outputs,
	}.Marshal(), nil
}

// modelInfer runs the linear model. MLServer answers in raw_output_contents when the request came
// with raw_input_contents (InferenceServicer.ModelInfer, use_raw); an unknown model is ModelNotFound,
// one still loading ModelNotReady (handlers/dataplane.py infer; errors.py: HTTP 400, INVALID_ARGUMENT).
func (s *Server) modelInfer(_ context.Context, in []byte) ([]byte, error) {
	req, err := UnmarshalInferRequest(in)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	m, ok := s.model(req.ModelName)
	if !ok {
		return nil, notFound(req.ModelName)
	}
	if !m.ready {
		return nil, status.Errorf(codes.InvalidArgument, "Model %s is not ready yet.", req.ModelName)
	}
	out, err := m.linear.predict(req)
	if err != nil {
		return nil, workerError(err)
	}
	resp := InferResponse{ModelName: req.ModelName, ID: req.ID, Outputs: []Tensor{out}}
	if len(req.RawInputContents) > 0 {
		resp.Outputs[0].FP32 = nil
		resp.RawOutputContents = [][]byte{fp32Raw(out.FP32)}
	}
	return resp.Marshal(), nil
}

// repositoryIndex lists the models of the repository with their state, READY when loaded, UNKNOWN
// while loading and UNAVAILABLE when not registered, only the ready ones when asked (handlers/model_repository.py index);
// RepositoryIndexResponse models = 1, each ModelIndex name = 1, version = 2, state = 3.
// The adapter calls it at runtimeStatus to unload what a restarted Pod's MLServer still holds.
func (s *Server) repositoryIndex(_ context.Context, in []byte) ([]byte, error) {
	readyOnly, err := boolField(in, 2)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	var out []byte
	for _, st := range s.list() {
		state := "UNAVAILABLE"
		if m, ok := s.model(st.Name); ok {
			state = map[bool]string{true: "READY", false: "UNKNOWN"}[m.ready]
		}
		if readyOnly && state != "READY" {
			continue
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, stringFields(st.Name, st.Parameters.Version, state))
	}
	return out, nil
}

// repositoryModelLoad loads (or reloads) every model-settings.json of the repository whose name is
// the model's (handlers/model_repository.py load, repository/repository.py find: none is
// ModelNotFound). The implementation is imported before the load (settings.py
// ModelSettings.implementation, _reload_module, then pydantic v1's PyObject.validate): a module the
// image lacks fails with Python's ModuleNotFoundError, a class its module lacks with pydantic's
// PyObjectError; neither is one of MLServer's errors, so INTERNAL with its text
// (handle_mlserver_error). A failing load is the model class's exception from the inference
// worker, wrapped as WorkerError (parallel/worker.py, parallel/errors.py): INTERNAL,
// "<module>.<class>: <message>"; the model is then removed from the registry (registry.py
// _load_model). A model loaded again keeps serving until its new load is done (_reload_model).
func (s *Server) repositoryModelLoad(_ context.Context, in []byte) ([]byte, error) {
	name, err := stringField(in, 2)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	var found *settings
	for _, st := range s.list() {
		if st.Name == name {
			found = &st
		}
	}
	if found == nil {
		return nil, notFound(name)
	}
	if err := s.importable(found.Implementation); err != nil {
		return nil, err
	}
	loading := &model{settings: *found}
	s.mu.Lock()
	if _, ok := s.models[name]; !ok {
		s.models[name] = loading
	}
	s.mu.Unlock()
	// MLServer goes on loading when the caller gives up.
	time.Sleep(s.opts.LoadTime)
	lm, err := loadLinear(name, found.Parameters.URI)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.models[name] == loading {
			delete(s.models, name)
		}
		return nil, workerError(err)
	}
	loading.linear, loading.ready = lm, true
	s.models[name] = loading
	s.log.Printf("Loaded model '%s' successfully.", name)
	return []byte{}, nil
}

// repositoryModelUnload forgets the model (MultiModelRegistry.unload); an unknown model is
// ModelNotFound, which the adapter accepts as already unloaded (server.go UnloadModel).
func (s *Server) repositoryModelUnload(_ context.Context, in []byte) ([]byte, error) {
	name, err := stringField(in, 2)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.models[name]; !ok {
		return nil, notFound(name)
	}
	delete(s.models, name)
	return []byte{}, nil
}

// importable fails as MLServer 1.3.2 fails to import implementation when the image lacks it.
func (s *Server) importable(implementation string) error {
	module, class := splitImport(implementation)
	moduleFound := false
	for _, have := range s.opts.Implementations {
		if have == implementation {
			return nil
		}
		m, _ := splitImport(have)
		moduleFound = moduleFound || m == module
	}
	if !moduleFound {
		return status.Errorf(codes.Internal, "No module named '%s'", module)
	}
	return status.Errorf(codes.Internal,
		`ensure this value contains valid import path or valid callable: Module "%s" does not define a "%s" attribute`, module, class)
}

// settings is what the stand-in reads of a model-settings.json (settings.py ModelSettings).
type settings struct {
	Name           string     `json:"name"`
	Implementation string     `json:"implementation"`
	Platform       string     `json:"platform"`
	Versions       []string   `json:"versions"`
	Inputs         []Metadata `json:"inputs"`
	Outputs        []Metadata `json:"outputs"`
	Parameters     struct {
		URI     string `json:"uri"`
		Version string `json:"version"`
	} `json:"parameters"`
}

// list reads every model-settings.json under the models folder, as SchemalessModelRepository.list
// does (repository/repository.py, repository/load.py): the name defaults to the folder's, the
// uri to the folder, a relative uri is the folder's; a file that does not parse, or names no
// implementation when MLSERVER_MODEL_IMPLEMENTATION is unset (required; mlserver-1.x sets none), is
// logged and skipped.
func (s *Server) list() []settings {
	var all []settings
	// Like Python's glob, a folder that cannot be read ends the search without an error.
	_ = filepath.WalkDir(s.opts.ModelsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "model-settings.json" {
			return nil
		}
		st, err := readSettings(path, s.opts.DefaultImplementation)
		if err != nil {
			s.log.Printf("Failed load model settings at %s.: %v", path, err)
			return nil
		}
		all = append(all, st)
		return nil
	})
	return all
}

func readSettings(path, defaultImplementation string) (settings, error) {
	var st settings
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	if st.Implementation == "" {
		st.Implementation = defaultImplementation
	}
	if st.Implementation == "" {
		return st, errors.New("implementation: field required")
	}
	folder := filepath.Dir(path)
	if st.Name == "" {
		st.Name = filepath.Base(folder)
	}
	switch {
	case st.Parameters.URI == "":
		st.Parameters.URI = folder
	case !filepath.IsAbs(st.Parameters.URI):
		st.Parameters.URI = filepath.Join(folder, st.Parameters.URI)
	}
	return st, nil
}

// workerError is an exception raised by the model class in MLServer's inference worker, as the
// main process gets it: WorkerError, "<module>.<class>: <message>", INTERNAL unless it is one of
// MLServer's errors, which keeps its code (parallel/errors.py).
func workerError(err error) error {
	var pe *pythonError
	if errors.As(err, &pe) {
		return status.Errorf(pe.code, "%s: %s", pe.class, pe.msg)
	}
	return status.Errorf(codes.Internal, "builtins.ValueError: %v", err)
}

// splitImport splits a Python import path "module.Class".
func splitImport(path string) (module, name string) {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' {
			return path[:i], path[i+1:]
		}
	}
	return path, ""
}

// Addr is the server's address as the adapter dials it (localhost:<RUNTIME_PORT>).
func (s *Server) Addr() string { return net.JoinHostPort("localhost", strconv.Itoa(s.Port)) }
