package testcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// Proxy forwards plain HTTP on URL to the cluster's kube-apiserver as the admin user. A client
// pointed at URL (kubernetes.host in the provider) can be made to get apiserver errors on demand,
// and its requests observed.
type Proxy struct {
	URL    string
	server *http.Server

	mu     sync.Mutex
	faults []*Fault
}

// Fault makes the proxy answer matching requests itself with the error the apiserver would send
// for Code (429, 500, 503 or 504), Times times; then the fault is spent.
type Fault struct {
	Match func(*http.Request) bool // nil matches every request
	Code  int
	Times int

	served int // guarded by the proxy's mu

}

// StartProxy starts a proxy to the apiserver cfg points at, authenticating with cfg's credentials;
// observe, if not nil, is called for each forwarded request once the apiserver has answered (or
// failed to), before any of the answer reaches the client: a client holding its answer can count
// on its request having been observed.
func StartProxy(cfg *rest.Config, observe func(r *http.Request, took time.Duration)) (*Proxy, error) {
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String()}
	if observe != nil {
		transport = observedTransport{next: transport, observe: observe}
	}
	forward := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     transport,
		FlushInterval: -1, // watches stream
	}
	p.server = &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := p.takeFault(r); f != nil {
			writeStatus(w, f.Code)
			return
		}
		forward.ServeHTTP(w, r)
	})}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

// observedTransport reports each round trip to the apiserver when its response headers arrive,
// which is before the reverse proxy copies anything to the client.
type observedTransport struct {
	next    http.RoundTripper
	observe func(r *http.Request, took time.Duration)
}

func (t observedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.observe(r, time.Since(start))
	return resp, err
}

// Inject adds a fault; faults are tried in the order added.
func (p *Proxy) Inject(f *Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, f)
}

// Served reports how many requests f has failed so far.
func (p *Proxy) Served(f *Fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return f.served
}

func (p *Proxy) takeFault(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if f.served < f.Times && (f.Match == nil || f.Match(r)) {
			f.served++
			return f
		}
	}
	return nil
}

// Close stops the proxy and breaks open connections.
func (p *Proxy) Close() error {
	if err := p.server.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeStatus answers as the apiserver does: a v1 Status body, and for 429 the Retry-After header
// that API Priority and Fairness sends.
func writeStatus(w http.ResponseWriter, code int) {
	var err *apierrors.StatusError
	switch code {
	case http.StatusTooManyRequests:
		err = apierrors.NewTooManyRequests("too many requests, please try again later", 1)
		w.Header().Set("Retry-After", "1")
	case http.StatusInternalServerError:
		err = apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
	case http.StatusServiceUnavailable:
		err = apierrors.NewServiceUnavailable("the apiserver is shutting down")
	case http.StatusGatewayTimeout:
		err = apierrors.NewTimeoutError("the server was unable to return a response in the time allotted", 1)
	default:
		err = apierrors.NewGenericServerResponse(code, "", schema.GroupResource{}, "", "injected by testcluster.Proxy", 0, false)
	}
	status := err.ErrStatus
	status.Kind, status.APIVersion = "Status", "v1"
	body, marshalErr := json.Marshal(status)
	if marshalErr != nil {
		panic(fmt.Sprintf("marshal a Status: %v", marshalErr))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// ClearFaults removes every fault, spent or not.
func (p *Proxy) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}
