// Package asm is a typed client for the Alibaba Cloud Service Mesh (ASM) OpenAPI.
package asm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
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
		return nil, errors.New("no Alibaba Cloud region: set region in the asm provider block " +
			"or ALIBABA_CLOUD_REGION / ALICLOUD_REGION")
	}
	creds, err := cfg.Credentials()
	if err != nil {
		return nil, err
	}
	scheme, err := cfg.Scheme()
	if err != nil {
		return nil, err
	}
	c := &Client{
		region:     cfg.Region,
		scheme:     scheme,
		endpoint:   cfg.Endpoint,
		creds:      creds,
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

// lockedCredentials serializes access to a credentials provider: the SDK's providers that refresh
// STS tokens (RAM role) keep their cache in unguarded fields, and every SDK client shares one.
type lockedCredentials struct {
	mu       sync.Mutex
	provider credentials.CredentialsProvider
}

func (l *lockedCredentials) GetCredentials() (*credentials.Credentials, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.provider.GetCredentials()
}

func (l *lockedCredentials) GetProviderName() string { return l.provider.GetProviderName() }

func schemeOf(protocol string) (string, error) {
	switch strings.ToUpper(protocol) {
	case "", "HTTPS":
		return "HTTPS", nil
	case "HTTP":
		return "HTTP", nil
	}
	return "", fmt.Errorf("protocol %q is not supported: use \"HTTPS\" (the default) or \"HTTP\"", protocol)
}

func (cfg Config) credential() (auth.Credential, error) {
	ak, sk, token := cfg.AccessKey, cfg.SecretKey, cfg.SecurityToken
	if ak == "" && sk == "" {
		p, err := loadProfile(cfg.SharedCredentialsFile, cfg.Profile)
		if err != nil {
			return nil, err
		}
		ak, sk, token = p.AccessKeyID, p.AccessKeySecret, p.StsToken
		if cfg.AssumeRole == nil && p.RAMRoleARN != "" {
			cfg.AssumeRole = &AssumeRole{RoleARN: p.RAMRoleARN, SessionName: p.RAMSessionName,
				SessionExpiration: p.ExpiredSeconds, Policy: p.Policy, ExternalID: p.ExternalID}
		}
	}
	if ak == "" || sk == "" {
		return nil, errors.New("no Alibaba Cloud credentials: set access_key and secret_key in the asm provider " +
			"block, ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (or ALICLOUD_ACCESS_KEY and " +
			"ALICLOUD_SECRET_KEY), or a profile in ~/.aliyun/config.json")
	}
	if r := cfg.AssumeRole; r != nil {
		if token != "" {
			return nil, errors.New("assume_role needs an access key pair as its base credential, not an STS token (security_token)")
		}
		session := r.SessionName
		if session == "" {
			session = "terraform-provider-asm"
		}
		return credentials.NewRamRoleArnWithPolicyAndExternalIdCredential(ak, sk, r.RoleARN, session, r.Policy, r.ExternalID, r.SessionExpiration), nil
	}
	if token != "" {
		return credentials.NewStsTokenCredential(ak, sk, token), nil
	}
	return credentials.NewAccessKeyCredential(ak, sk), nil
}

// cliProfile is one profile of the aliyun CLI's config.json.
type cliProfile struct {
	Name            string `json:"name"`
	Mode            string `json:"mode"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	StsToken        string `json:"sts_token"`
	RAMRoleARN      string `json:"ram_role_arn"`
	RAMSessionName  string `json:"ram_session_name"`
	ExpiredSeconds  int    `json:"expired_seconds"`
	Policy          string `json:"policy"`
	ExternalID      string `json:"external_id"`
}

// loadProfile reads the named (or current) aliyun CLI profile. A missing default file is not an
// error: it only means no profile credentials are available.
func loadProfile(path, name string) (cliProfile, error) {
	explicit := path != ""
	if !explicit {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".aliyun", "config.json")
		}
	}
	if path == "" {
		if name != "" {
			return cliProfile{}, fmt.Errorf("profile %q: no home directory to find ~/.aliyun/config.json in; "+
				"set shared_credentials_file (or ALIBABA_CLOUD_CREDENTIALS_FILE)", name)
		}
		return cliProfile{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && name == "" && errors.Is(err, os.ErrNotExist) {
			return cliProfile{}, nil
		}
		return cliProfile{}, fmt.Errorf("reading Alibaba Cloud profile file %q (shared_credentials_file): %w", path, err)
	}
	var conf struct {
		Current  string       `json:"current"`
		Profiles []cliProfile `json:"profiles"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return cliProfile{}, fmt.Errorf("parsing Alibaba Cloud profile file %q: %w", path, err)
	}
	if name == "" {
		name = conf.Current
	}
	for _, p := range conf.Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return cliProfile{}, fmt.Errorf("profile %q (profile / ALIBABA_CLOUD_PROFILE) not found in %q", name, path)
}
