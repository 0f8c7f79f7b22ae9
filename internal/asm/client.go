// Package asm is a typed client for the Alibaba Cloud Service Mesh (ASM) OpenAPI.
package asm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
)

// Client is a typed client for the servicemesh OpenAPI. It is safe for concurrent use.
type Client struct {
	region    string
	scheme    string
	endpoint  string
	creds     credentials.CredentialsProvider
	transport http.RoundTripper

	maxRetries int
	retry      backoff // between attempts of one call
	poll       backoff // between reads while waiting for a cluster to settle

	mu   sync.Mutex
	idle []*conn
	// meshLocks serialize cluster changes per mesh: see lockMesh.
	meshLocks map[string]chan struct{}
}

// conn is one SDK client, used by one call at a time. The SDK client writes its own fields on
// every call (timeouts, transport settings), so sharing one between goroutines would race.
type conn struct {
	sdk       *servicemesh.Client
	transport *ctxTransport
}

// NewClient builds a client without contacting the service. Missing settings are reported here,
// naming the provider attribute or environment variable that supplies them.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("no Alibaba Cloud region: set region in the asm provider block, " +
			"ALIBABA_CLOUD_REGION / ALICLOUD_REGION, or region_id in the aliyun CLI profile the credentials come from")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("asm: no credentials")
	}
	scheme, err := cfg.Scheme()
	if err != nil {
		return nil, err
	}
	c := &Client{
		region:     cfg.Region,
		scheme:     scheme,
		endpoint:   cfg.Endpoint,
		creds:      cfg.Credentials,
		transport:  newTransport(),
		maxRetries: max(cfg.MaxRetries, 0),
		retry:      backoff{initial: time.Second, max: 20 * time.Second, factor: 2},
		poll:       backoff{initial: time.Second, max: 10 * time.Second, factor: 1.5},
		meshLocks:  map[string]chan struct{}{},
	}
	// The first SDK client is built now so that a bad region is reported here, and so that the SDK's
	// process-wide endpoint map is initialized before any concurrent use.
	first, err := c.newConn()
	if err != nil {
		return nil, fmt.Errorf("creating ASM client: %w", err)
	}
	c.idle = append(c.idle, first)
	return c, nil
}

// Scheme reports the protocol requests are sent with.
func (c *Client) Scheme() string { return c.scheme }

func (c *Client) newConn() (*conn, error) {
	transport := &ctxTransport{base: c.transport}
	// The SDK's own retries are off: retry handles throttling and 5xx, with backoff and logging.
	config := sdk.NewConfig().WithScheme(c.scheme).WithAutoRetry(false)
	config.Transport = transport
	client, err := servicemesh.NewClientWithOptions(c.region, config, c.creds)
	if err != nil {
		return nil, err
	}
	if c.endpoint != "" {
		client.Domain = c.endpoint
	}
	return &conn{sdk: client, transport: transport}, nil
}

// acquire takes an idle SDK client, or builds one, bound to ctx until released.
func (c *Client) acquire(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cn *conn
	if n := len(c.idle); n > 0 {
		cn, c.idle = c.idle[n-1], c.idle[:n-1]
	} else {
		var err error
		if cn, err = c.newConn(); err != nil {
			return nil, err
		}
	}
	cn.transport.ctx = ctx
	return cn, nil
}

func (c *Client) release(cn *conn) {
	cn.transport.ctx = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = append(c.idle, cn)
}

// ctxTransport ties the SDK's requests, which it builds without a context, to the context of the
// call being made, so that a cancelled or timed-out operation stops its request in flight.
type ctxTransport struct {
	base http.RoundTripper
	ctx  context.Context
}

func (t *ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	call := t.ctx
	if call == nil {
		return t.base.RoundTrip(r)
	}
	// The request's own context carries the SDK's read timeout; it ends once the body is read,
	// which also unhooks the call's context.
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(call, func() { cancel(context.Cause(call)) })
	context.AfterFunc(ctx, func() { stop() })
	return t.base.RoundTrip(r.WithContext(ctx))
}

// newTransport is http.DefaultTransport's settings with a shorter connect timeout.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func schemeOf(protocol string) (string, error) {
	switch strings.ToUpper(protocol) {
	case "", "HTTPS":
		return "HTTPS", nil
	case "HTTP":
		return "HTTP", nil
	}
	return "", fmt.Errorf("protocol %q is not supported: use \"HTTPS\" (the default) or \"HTTP\"", protocol)
}
