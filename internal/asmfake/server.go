// Package asmfake is a stateful fake of ASM's servicemesh 2020-01-11 OpenAPI for tests, spoken to by the real SDK.
package asmfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options sets how long the asynchronous operations take. Zero makes a transition complete at the
// next read; DefaultOptions gives delays closer to the real service.
type Options struct {
	// AttachDelay is how long an added cluster stays "starting" before "running" (or "failed").
	AttachDelay time.Duration
	// DetachDelay is how long a removed cluster stays "stopping" before it leaves the mesh.
	DetachDelay time.Duration
	// MeshUpdateDelay is how long a mesh stays "updating" after the cluster it adds or removes has
	// settled: the mesh is busy for the whole change, longer than the cluster's own transition.
	MeshUpdateDelay time.Duration
}

// DefaultOptions returns short but observable delays.
func DefaultOptions() Options {
	return Options{AttachDelay: 2 * time.Second, DetachDelay: 2 * time.Second,
		MeshUpdateDelay: time.Second}
}

// hostID is what the real gateway names itself in error bodies.
const hostID = "servicemesh.aliyuncs.com"

// Server is the fake. It is an http.Handler, so it can be mounted in another process's server;
// Start serves it on a loopback port of its own. All methods are safe for concurrent use.
type Server struct {
	opts Options

	mu          sync.Mutex
	credentials map[string]Credential
	meshes      map[string]*meshState
	clusters    map[string]Cluster
	// controlPlanes are the kubeconfigs DescribeServiceMeshKubeconfig hands out, by mesh ID.
	controlPlanes map[string]ControlPlane
	faults        map[string][]*pendingFault
	nonces        map[string]time.Time
	requests      []Request
	// undocumented are this server's codes for the refusals ASM documents no code for.
	undocumented map[Refusal]string

	httpServer *http.Server
	endpoint   string
}

// New returns a fake with no credentials, meshes or clusters.
func New(opts Options) *Server {
	return &Server{
		opts:          opts,
		credentials:   map[string]Credential{},
		meshes:        map[string]*meshState{},
		clusters:      map[string]Cluster{},
		controlPlanes: map[string]ControlPlane{},
		faults:        map[string][]*pendingFault{},
		nonces:        map[string]time.Time{},

		undocumented: undocumentedCodes(),
	}
}

// Start serves the fake over plain HTTP on 127.0.0.1 at a free port.
func (s *Server) Start() error {
	if s.httpServer != nil {
		return errors.New("asmfake: server already started")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("asmfake: listening on loopback: %w", err)
	}
	s.endpoint = listener.Addr().String()
	s.httpServer = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.httpServer.Serve(listener) }()
	return nil
}

// Endpoint is the "127.0.0.1:PORT" to set as the SDK client's Domain; empty before Start.
func (s *Server) Endpoint() string { return s.endpoint }

// URL is the server's base URL; empty before Start.
func (s *Server) URL() string {
	if s.endpoint == "" {
		return ""
	}
	return "http://" + s.endpoint
}

// Close stops serving and drops open connections.
func (s *Server) Close() error {
	if s.httpServer == nil {
		return nil
	}
	return s.httpServer.Close()
}

// AddCredential makes an access key valid, replacing any with the same ID.
func (s *Server) AddCredential(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credentials[c.AccessKeyID] = c
}

// ServeHTTP answers one RPC call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	requestID := newRequestID()
	params, result, failure, lost := s.serve(r, requestID)

	status, code := http.StatusOK, ""
	body := result
	if failure != nil {
		status, code = failure.status, failure.code
		body = errorBody{
			RequestID: requestID,
			HostID:    hostID,
			Code:      failure.code,
			Message:   failure.message,
			Recommend: "https://api.aliyun.com/troubleshoot?q=" + failure.code + "&product=servicemesh&requestId=" + requestID,
		}
	}
	if lost && failure == nil {
		status = 0
	}
	// Recorded before the answer is written, so a test reading the recorder after its call returns sees it.
	s.record(Request{Action: params["Action"], Method: r.Method, Params: params, Time: received, Status: status,
		Code: code, AnswerLost: lost})
	if status == 0 {
		// The connection closes without an answer: the client cannot tell whether the action was
		// carried out (net/http closes the connection and logs nothing for this panic).
		panic(http.ErrAbortHandler)
	}

	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// serve runs one call. lost reports a fault that lets the action run and then loses its answer:
// failure is then what the client gets instead (nil for no answer at all).
func (s *Server) serve(r *http.Request, requestID string) (params map[string]string, result any, failure *apiError, lost bool) {
	params, failure = readParams(r)
	if failure != nil {
		return params, nil, failure, false
	}
	if failure := checkProtocol(params); failure != nil {
		return params, nil, failure, false
	}
	if failure := s.authenticate(r.Method, params, time.Now()); failure != nil {
		return params, nil, failure, false
	}
	action := actions[params["Action"]]
	fault, failure := s.applyFault(r.Context(), params["Action"])
	if failure != nil && !fault.LoseAnswer {
		return params, nil, failure, false
	}
	result, refusal := s.run(action, params, requestID)
	if fault.LoseAnswer {
		return params, nil, failure, true
	}
	return params, result, refusal, false
}

func (s *Server) run(action action, params map[string]string, requestID string) (any, *apiError) {
	for _, name := range action.required {
		if params[name] == "" {
			return nil, missingParameter(name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.settle(now)
	return action.serve(s, call{params: params, requestID: requestID, now: now})
}

// readParams merges query and form body the way the SDK does when signing: body values win.
func readParams(r *http.Request) (map[string]string, *apiError) {
	params := map[string]string{}
	if err := r.ParseForm(); err != nil {
		return params, newError(CodeInvalidParameter, "The request could not be parsed: %v", err)
	}
	for key, values := range r.URL.Query() {
		params[key] = values[0]
	}
	for key, values := range r.PostForm {
		params[key] = values[0]
	}
	return params, nil
}

// errorBody is the gateway's error answer, as sdk/errors.NewServerError reads it.
type errorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

// newRequestID returns an upper-case random UUID, the form the real service uses.
func newRequestID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newResourceID returns an ID shaped like ASM's mesh and cluster IDs: "c" and 32 hex digits.
func newResourceID() string { return "c" + hex.EncodeToString(randomBytes(16)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return b
}

// sleepContext waits d unless ctx ends first, and reports whether it waited the whole time.
func sleepContext(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
