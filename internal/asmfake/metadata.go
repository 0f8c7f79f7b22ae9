package asmfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Metadata is the ECS instance metadata service's RAM role part, for an instance whose attached
// role's credentials belong to the account. The real service is at http://100.100.100.200, which
// credentials-go cannot be pointed elsewhere from: a client reaches this double by using it as its
// HTTP proxy, and the double answers only requests for that host, as the proxy would forward them.
// Behaviour imitated from ECS's documentation ("Instance metadata":
// https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata, and "Instance RAM
// roles": .../ecs/user-guide/attach-an-instance-ram-role-to-an-ecs-instance): security-hardened mode
// (IMDSv2) takes a token from PUT /latest/api/token with a TTL of 1 to 21600 seconds in
// X-aliyun-ecs-metadata-token-ttl-seconds, sent back in X-aliyun-ecs-metadata-token; the role's
// name is listed at /latest/meta-data/ram/security-credentials/ and its credentials, renewed by
// the instance well before they expire, at .../security-credentials/<role>. Calls go through the
// account's fault queue and recorder as ActionMetadataToken and ActionMetadataCredentials.
type Metadata struct {
	loopback
	issuer
	// Role is the attached RAM role; empty: none is attached (the listing is then a 404).
	Role string
	// HardenedOnly refuses requests without a token (403), as an instance set to enforce
	// security-hardened mode does.
	HardenedOnly bool
	// CredentialLifetime is how long each credential lives; zero means 6 hours.
	CredentialLifetime time.Duration

	mu     sync.Mutex
	tokens map[string]time.Time
	// current is the credential served until it reaches its renewal margin.
	current Credential
}

// MetadataHost is the metadata service's address, the only host the double answers for.
const MetadataHost = "100.100.100.200"

// Metadata action names, for faults and the recorder.
const (
	ActionMetadataToken       = "MetadataToken"
	ActionMetadataCredentials = "MetadataCredentials"
)

// NewMetadata returns the metadata service of an instance whose RAM role is role.
func NewMetadata(account *Server, role string) *Metadata {
	return &Metadata{issuer: issuer{account: account}, Role: role, tokens: map[string]time.Time{}}
}

// Start serves the double over plain HTTP on 127.0.0.1 at a free port; its URL is the proxy to set.
func (m *Metadata) Start() error { return m.start(m, false) }

// ProxyURL is the "http://127.0.0.1:PORT" to give the client as its HTTP proxy.
func (m *Metadata) ProxyURL() string { return "http://" + m.Endpoint() }

type metadataCredentials struct {
	Code string `json:"Code"`
	wireCredentials
	LastUpdated string `json:"LastUpdated"`
}

func (m *Metadata) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	action := ActionMetadataCredentials
	if r.URL.Path == "/latest/api/token" {
		action = ActionMetadataToken
	}
	status, body := m.serve(r, action, now)
	m.account.record(Request{Action: action, Method: r.Method, Params: map[string]string{"Path": r.URL.Path},
		Time: now, Status: status})
	if status == 0 {
		panic(http.ErrAbortHandler) // the connection closes without an answer
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func (m *Metadata) serve(r *http.Request, action string, now time.Time) (int, string) {
	if r.Host != MetadataHost {
		// Anything else would have been forwarded to the real network: refuse, never forward.
		return http.StatusBadGateway, "asmfake: the metadata double only answers for " + MetadataHost
	}
	fault, failure := m.account.applyFault(r.Context(), action)
	switch {
	case failure != nil:
		return failure.status, "injected fault"
	case fault.LoseAnswer:
		// Nothing to carry out: the client sees what an instance that cannot reach the service sees.
		return 0, ""
	}
	if action == ActionMetadataToken {
		if r.Method != http.MethodPut {
			return http.StatusMethodNotAllowed, ""
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-aliyun-ecs-metadata-token-ttl-seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			return http.StatusBadRequest, ""
		}
		token := hexString(24)
		m.mu.Lock()
		m.tokens[token] = now.Add(time.Duration(ttl) * time.Second)
		m.mu.Unlock()
		return http.StatusOK, token
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, ""
	}
	if token := r.Header.Get("X-aliyun-ecs-metadata-token"); token != "" {
		m.mu.Lock()
		expiry, ok := m.tokens[token]
		m.mu.Unlock()
		if !ok || now.After(expiry) {
			return http.StatusUnauthorized, ""
		}
	} else if m.HardenedOnly {
		return http.StatusForbidden, ""
	}
	role, listed := strings.CutPrefix(r.URL.Path, "/latest/meta-data/ram/security-credentials/")
	switch {
	case !listed, m.Role == "":
		return http.StatusNotFound, notFoundPage
	case role == "":
		return http.StatusOK, m.Role
	case role != m.Role:
		return http.StatusNotFound, notFoundPage
	}
	body, _ := json.Marshal(m.credentials(now))
	return http.StatusOK, string(body)
}

// notFoundPage is the metadata service's 404 body: HTML, not JSON.
const notFoundPage = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><head><title>404 - Not Found</title></head>" +
	"<body><h1>404 - Not Found</h1></body></html>"

// credentials serves the current credential, renewing it once half its life has passed, as the
// instance does ahead of expiry.
func (m *Metadata) credentials(now time.Time) metadataCredentials {
	lifetime := m.CredentialLifetime
	if lifetime == 0 {
		lifetime = 6 * time.Hour
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current.AccessKeyID == "" || now.After(m.current.Expiration.Add(-lifetime/2)) {
		m.current = m.issue(lifetime, now)
	}
	return metadataCredentials{Code: "Success", wireCredentials: wireCredentialsOf(m.current),
		LastUpdated: now.UTC().Format(stsTimeLayout)}
}

// CredentialsURI is a credentials URI: GET answers the account's temporary credentials as JSON,
// the shape credentials-go reads (credentials/providers/uri.go: AccessKeyId, AccessKeySecret,
// SecurityToken, Expiration, all required), as a credentials sidecar serves them. Calls go through
// the account's fault queue and recorder as ActionCredentialsURI.
type CredentialsURI struct {
	loopback
	issuer
	// CredentialLifetime is how long each credential lives; zero means an hour.
	CredentialLifetime time.Duration
}

// ActionCredentialsURI names credentials URI calls, for faults and the recorder.
const ActionCredentialsURI = "CredentialsURI"

// NewCredentialsURI returns a credentials URI for account.
func NewCredentialsURI(account *Server) *CredentialsURI {
	return &CredentialsURI{issuer: issuer{account: account}}
}

// Start serves the URI over plain HTTP on 127.0.0.1 at a free port.
func (c *CredentialsURI) Start() error { return c.start(c, false) }

// URL is the credentials URI.
func (c *CredentialsURI) URL() string { return "http://" + c.Endpoint() + "/credentials" }

func (c *CredentialsURI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	status := http.StatusOK
	var body any
	if _, failure := c.account.applyFault(r.Context(), ActionCredentialsURI); failure != nil {
		status, body = failure.status, map[string]string{"Code": failure.code, "Message": failure.message}
	} else {
		lifetime := c.CredentialLifetime
		if lifetime == 0 {
			lifetime = time.Hour
		}
		body = metadataCredentials{Code: "Success", wireCredentials: wireCredentialsOf(c.issue(lifetime, now)),
			LastUpdated: now.UTC().Format(stsTimeLayout)}
	}
	c.account.record(Request{Action: ActionCredentialsURI, Method: r.Method, Time: now, Status: status})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
