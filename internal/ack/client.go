// Package ack fetches short-lived kubeconfigs for ACK clusters from the Container Service API
// (cs 2015-12-15) and keeps a Kubernetes client's credential current with them.
package ack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cs"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/alicred"
)

// Config is everything needed to call the ACK API; nothing is contacted until the first call.
type Config struct {
	Region      string
	Scheme      string // "HTTPS" or "HTTP"
	Endpoint    string // overrides the cs host, as "host[:port]"
	Credentials credentials.CredentialsProvider
	// Attempts bounds the calls made for one request when the API throttles, fails with a 5xx or
	// cannot be reached; 0 means 5.
	Attempts int
}

// Client calls the ACK API. It is safe for concurrent use.
type Client struct {
	cfg       Config
	transport *http.Transport
}

// NewClient builds a client without contacting the service.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("no Alibaba Cloud region: set region in the asm provider block " +
			"or ALIBABA_CLOUD_REGION / ALICLOUD_REGION")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("ack: no credentials")
	}
	if scheme, host, ok := strings.Cut(cfg.Endpoint, "://"); ok {
		// A URL is accepted for what it means when it agrees with protocol; the SDK takes a host.
		switch {
		case !strings.EqualFold(scheme, cfg.Scheme):
			return nil, fmt.Errorf("endpoints.cs (or ALIBABA_CLOUD_CS_ENDPOINT) %q asks for %s, but calls go over %s "+
				"(protocol): give only host[:port], and set protocol = %q if that is what you mean",
				cfg.Endpoint, scheme, cfg.Scheme, strings.ToUpper(scheme))
		case strings.Trim(host, "/") == "" || strings.Contains(strings.TrimSuffix(host, "/"), "/"):
			return nil, fmt.Errorf("endpoints.cs (or ALIBABA_CLOUD_CS_ENDPOINT) %q: give host[:port] only, "+
				"e.g. cs.cn-hangzhou.aliyuncs.com; a path is not supported", cfg.Endpoint)
		}
		cfg.Endpoint = strings.TrimSuffix(host, "/")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	return &Client{cfg: cfg, transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}}, nil
}

// Kubeconfig is one answer of DescribeClusterUserKubeconfig.
type Kubeconfig struct {
	// Config is the kubeconfig file's content. It holds a credential: never log or store it.
	Config []byte
	// Expiration is when the credential in Config stops working; zero when ACK reported none, or
	// none in RFC 3339.
	Expiration time.Time
}

// userKubeconfigAnswer is DescribeClusterUserKubeconfig's body. The SDK's response struct predates
// the expiration field, which ACK's API reference documents: "expiration: the expiration time of the
// kubeconfig file, UTC in RFC 3339" (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-describeclusteruserkubeconfig).
type userKubeconfigAnswer struct {
	Config     string `json:"config"`
	Expiration string `json:"expiration"`
}

// UserKubeconfig fetches a kubeconfig for the caller's own identity on the cluster, for its
// internal (VPC) endpoint when private is set, with a credential valid for lifetime (ACK accepts
// 15 minutes to 3 days; zero asks for ACK's long-lived default).
func (c *Client) UserKubeconfig(ctx context.Context, clusterID string, private bool, lifetime time.Duration) (*Kubeconfig, error) {
	for attempt := 1; ; attempt++ {
		answer, err := c.userKubeconfig(ctx, clusterID, private, lifetime)
		if err == nil {
			return answer, nil
		}
		var apiErr *Error
		if !errors.As(err, &apiErr) || !apiErr.retryable() || attempt >= c.cfg.Attempts {
			return nil, err
		}
		// Exponential backoff with jitter, 1 s doubling up to 16 s.
		step := time.Duration(1<<min(attempt-1, 4)) * time.Second
		timer := time.NewTimer(step/2 + rand.N(step/2+1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
	}
}

func (c *Client) userKubeconfig(ctx context.Context, clusterID string, private bool, lifetime time.Duration) (*Kubeconfig, error) {
	// One SDK client per call, bound to ctx: the SDK builds its requests without a context, and
	// kubeconfigs are fetched once per credential lifetime, not per Kubernetes request.
	config := sdk.NewConfig().WithScheme(c.cfg.Scheme).WithAutoRetry(false)
	config.Transport = ctxTransport{ctx: ctx, base: c.transport}
	client, err := cs.NewClientWithOptions(c.cfg.Region, config, c.cfg.Credentials)
	if err != nil {
		return nil, fmt.Errorf("creating ACK client: %w", err)
	}
	req := cs.CreateDescribeClusterUserKubeconfigRequest()
	if c.cfg.Endpoint != "" {
		// A ROA request's URL is "scheme://Domain:Port/path" (sdk/requests/roa_request.go BuildUrl):
		// a port belongs in the request, not in Domain.
		client.Domain = c.cfg.Endpoint
		if host, port, err := net.SplitHostPort(c.cfg.Endpoint); err == nil {
			client.Domain, req.Port = host, port
		}
	}
	req.ClusterId = clusterID
	req.PrivateIpAddress = requests.NewBoolean(private)
	if lifetime > 0 {
		// Not a field of the SDK's request struct, which predates it; a documented query parameter.
		req.QueryParams["TemporaryDurationMinutes"] = strconv.Itoa(int(lifetime / time.Minute))
	}
	resp, err := client.DescribeClusterUserKubeconfig(req)
	var credErr *alicred.Error
	if errors.As(err, &credErr) {
		// Not sent: neither a cs: permission nor the ACK API's reachability is in question, and
		// UserKubeconfig retries only *Error.
		return nil, fmt.Errorf("fetching a kubeconfig for ACK cluster %s: %w", clusterID, credErr)
	}
	if err != nil {
		return nil, newError(clusterID, err)
	}
	var body userKubeconfigAnswer
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &body); err != nil || body.Config == "" {
		return nil, &Error{ClusterID: clusterID, HTTPStatus: resp.GetHttpStatus(), Message: "the answer holds no kubeconfig"}
	}
	out := &Kubeconfig{Config: []byte(body.Config)}
	// An expiration that is missing or not RFC 3339 leaves the kubeconfig's own credential to tell
	// it (Access reads the client certificate's NotAfter): the kubeconfig itself is fine.
	if t, err := time.Parse(time.RFC3339, body.Expiration); err == nil {
		out.Expiration = t
	}
	return out, nil
}

// ctxTransport ties the SDK's requests to the caller's context, so that a cancelled operation
// stops its request in flight.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	context.AfterFunc(ctx, func() { stop() })
	return t.base.RoundTrip(r.WithContext(ctx))
}

// Error is a failed ACK call, classified.
type Error struct {
	ClusterID  string
	HTTPStatus int // 0 when no answer arrived
	Code       string
	Message    string
	RequestID  string
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.IsNotFound():
		fmt.Fprintf(&b, "ACK cluster %s was not found (%s): check kubernetes.ack_cluster_id in the asm provider block "+
			"(or ALIBABA_CLOUD_ACK_CLUSTER_ID) and that the provider's region is the cluster's region", e.ClusterID, e.Code)
	case e.IsForbidden():
		fmt.Fprintf(&b, "the Alibaba Cloud identity the asm provider uses may not fetch a kubeconfig for ACK cluster %s "+
			"(HTTP 403, %s): grant it the RAM action cs:DescribeClusterUserKubeconfig on acs:cs:*:*:cluster/%s "+
			"(a policy condition on cs:KubeConfigDurationMinutes must allow the provider's temporary kubeconfigs), "+
			"or set the kubernetes block's config_path or host instead of ack_cluster_id", e.ClusterID, e.Code, e.ClusterID)
	case e.HTTPStatus == 0 && e.Code == "":
		fmt.Fprintf(&b, "fetching a kubeconfig for ACK cluster %s (DescribeClusterUserKubeconfig): the ACK API could not "+
			"be reached, even after retrying; check endpoints.cs (or ALIBABA_CLOUD_CS_ENDPOINT), protocol and the network",
			e.ClusterID)
	default:
		fmt.Fprintf(&b, "fetching a kubeconfig for ACK cluster %s (DescribeClusterUserKubeconfig)", e.ClusterID)
		if e.HTTPStatus != 0 {
			fmt.Fprintf(&b, " failed with HTTP %d", e.HTTPStatus)
		}
		if e.Code != "" {
			fmt.Fprintf(&b, " %s", e.Code)
		}
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports an unknown cluster: ACK answers ErrorClusterNotFound with HTTP 404.
func (e *Error) IsNotFound() bool {
	return e.Code == "ErrorClusterNotFound" || (e.HTTPStatus == http.StatusNotFound && e.Code == "")
}

// IsForbidden reports a missing RAM permission (HTTP 403: StatusForbidden from ACK, Forbidden.RAM
// or NoPermission from the gateway).
func (e *Error) IsForbidden() bool { return e.HTTPStatus == http.StatusForbidden }

// retryable reports throttling, 5xx answers and requests that got no answer at all (the SDK's
// own errors, which carry a code, are not).
func (e *Error) retryable() bool {
	if e.HTTPStatus == 0 {
		return e.Code == "" && !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded)
	}
	return e.HTTPStatus >= 500 || strings.Contains(e.Code, "Throttling")
}

// newError classifies an SDK error. ACK answers its own errors in lowercase JSON ({"code",
// "message", "requestId", "status"}), which the SDK's ServerError does not parse (it looks for
// "Code"): it then holds the whole body as its message, which is why the alicloud provider matches
// ACK codes inside Message() (aliyun/terraform-provider-alicloud, alicloud/errors.go,
// IsExpectedErrors). Both shapes are read here.
func newError(clusterID string, err error) *Error {
	e := &Error{ClusterID: clusterID, Message: err.Error(), Err: err}
	var client *sdkerrors.ClientError
	if errors.As(err, &client) {
		e.Code = client.ErrorCode()
		return e
	}
	var server *sdkerrors.ServerError
	if !errors.As(err, &server) {
		return e
	}
	e.HTTPStatus, e.Code, e.Message, e.RequestID = server.HttpStatus(), server.ErrorCode(), server.Message(), server.RequestId()
	if e.Code == "" {
		var body struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"requestId"`
		}
		if json.Unmarshal([]byte(server.Message()), &body) == nil && body.Code != "" {
			e.Code, e.Message, e.RequestID = body.Code, body.Message, body.RequestID
		}
	}
	return e
}
