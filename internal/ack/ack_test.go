package ack

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/alicred"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

const (
	accessKey = "LTAI5tAckTestKey"
	secret    = "ack-test-secret"
	clusterID = "c0000000000000000000000000000ac17"
)

// apiserver stands in for a cluster's apiserver: it accepts a bearer token "valid-until-<RFC3339>"
// until that time, as an apiserver accepts a credential until it expires, and records what it saw.
type apiserver struct {
	*httptest.Server
	mu      sync.Mutex
	tokens  []string
	expired int
}

func startAPIServer(t *testing.T) *apiserver {
	t.Helper()
	s := &apiserver{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		until, err := time.Parse(time.RFC3339, strings.TrimPrefix(token, "valid-until-"))
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil || time.Now().After(until) {
			s.expired++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if len(s.tokens) == 0 || s.tokens[len(s.tokens)-1] != token {
			s.tokens = append(s.tokens, token)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiserver) seen() (tokens []string, expired int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...), s.expired
}

// startACK serves the ACK API for one account with the cluster behind server.
func startACK(t *testing.T, server *apiserver, lifetime time.Duration) (*asmfake.Server, *asmfake.ACK, *Client) {
	t.Helper()
	account := asmfake.New(asmfake.Options{})
	if err := account.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = account.Close() })
	account.AddCredential(asmfake.Credential{AccessKeyID: accessKey, AccessKeySecret: secret})
	fake := asmfake.NewACK(account)
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	cluster := asmfake.ACKCluster{ID: clusterID, CredentialLifetime: lifetime,
		Issue: func(expiry time.Time) (asmfake.KubeCredential, error) {
			return asmfake.KubeCredential{Token: "valid-until-" + expiry.UTC().Format(time.RFC3339)}, nil
		}}
	if server != nil {
		cluster.PublicServer, cluster.IntranetServer = server.URL, "https://192.0.2.1:6443"
		cluster.CACertificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})
	}
	fake.AddCluster(cluster)
	client, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: fake.Endpoint(), Attempts: 3,
		Credentials: credentials.NewStaticAKCredentialsProvider(accessKey, secret)})
	if err != nil {
		t.Fatal(err)
	}
	return account, fake, client
}

func get(t *testing.T, access *Access, url string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/api", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := access.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestAccessRenewsBeforeExpiry: requests made across several credential lifetimes all succeed,
// each credential is replaced before it expires, and no request ever carries an expired one.
func TestAccessRenewsBeforeExpiry(t *testing.T) {
	server := startAPIServer(t)
	_, fake, client := startACK(t, server, 3*time.Second)
	access := NewAccess(client, clusterID, false, time.Hour)
	cfg, err := access.RESTConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != server.URL || cfg.BearerToken != "" || len(cfg.KeyData) > 0 {
		t.Fatalf("rest.Config: host %q and no credential of its own wanted, got %+v", cfg.Host, cfg)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		if code := get(t, access, cfg.Host); code != http.StatusOK {
			t.Fatalf("request answered %d", code)
		}
		tokens, _ := server.seen()
		return len(tokens) >= 3, nil
	})
	if err != nil {
		t.Fatalf("the credential was not renewed twice: %v (issued %d)", err, len(fake.Issued()))
	}
	if _, expired := server.seen(); expired != 0 {
		t.Errorf("%d requests carried an expired credential", expired)
	}
	issued := fake.Issued()
	for i := 1; i < len(issued); i++ {
		if !issued[i].Issued.Before(issued[i-1].Expiration) {
			t.Errorf("kubeconfig %d was fetched at %s, after its predecessor expired at %s", i, issued[i].Issued, issued[i-1].Expiration)
		}
	}
}

// TestAccessKeepsAValidCredentialWhenRenewalFails: an ACK API outage at renewal time does not fail
// requests while the current credential still works.
func TestAccessKeepsAValidCredentialWhenRenewalFails(t *testing.T) {
	server := startAPIServer(t)
	account, _, client := startACK(t, server, 4*time.Second)
	access := NewAccess(client, clusterID, false, time.Hour)
	cfg, err := access.RESTConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first := access.current
	// Refused for good (the RAM permission was taken away meanwhile), so that no retry outlasts it.
	account.InjectFault("DescribeClusterUserKubeconfig", asmfake.Fault{Code: asmfake.CodeForbiddenRAM})
	// Wait until renewal is due, then ask: it fails, and the old credential is used.
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return !time.Now().Before(first.renewAt), nil
	}); err != nil {
		t.Fatal(err)
	}
	if time.Now().After(first.expiration) {
		t.Skip("the machine was too slow to reach the renewal window before expiry")
	}
	if code := get(t, access, cfg.Host); code != http.StatusOK {
		t.Errorf("request during a failed renewal answered %d", code)
	}
	if access.current != first {
		t.Error("the credential changed although renewing it failed")
	}
	if n := account.CountRequests("DescribeClusterUserKubeconfig"); n < 2 {
		t.Errorf("%d kubeconfig requests: the renewal was not attempted", n)
	}
}

func TestAccessPrivateEndpoint(t *testing.T) {
	_, fake, client := startACK(t, startAPIServer(t), 0)
	cfg, err := NewAccess(client, clusterID, true, time.Hour).RESTConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://192.0.2.1:6443" || !fake.Issued()[0].Private {
		t.Errorf("private endpoint: host %q, issued %+v", cfg.Host, fake.Issued())
	}
}

func TestErrorsAreExplained(t *testing.T) {
	account, fake, client := startACK(t, nil, 0)
	t.Run("unknown cluster", func(t *testing.T) {
		_, err := client.UserKubeconfig(t.Context(), "c0000000000000000000000000000dead", false, time.Hour)
		var e *Error
		if !errors.As(err, &e) || !e.IsNotFound() || e.RequestID == "" ||
			!strings.Contains(err.Error(), "kubernetes.ack_cluster_id") || !strings.Contains(err.Error(), "region") {
			t.Errorf("want a not-found error naming kubernetes.ack_cluster_id and the region, with a request id; got %v", err)
		}
	})
	t.Run("missing permission", func(t *testing.T) {
		account.AddCredential(asmfake.Credential{AccessKeyID: "LTAI5tNoCs", AccessKeySecret: "s"})
		fake.Deny("LTAI5tNoCs")
		denied, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: fake.Endpoint(),
			Credentials: credentials.NewStaticAKCredentialsProvider("LTAI5tNoCs", "s")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = denied.UserKubeconfig(t.Context(), clusterID, false, time.Hour)
		var e *Error
		if !errors.As(err, &e) || !e.IsForbidden() || !strings.Contains(err.Error(), "cs:DescribeClusterUserKubeconfig") ||
			!strings.Contains(err.Error(), "acs:cs:*:*:cluster/"+clusterID) {
			t.Errorf("want a 403 naming the RAM action and resource; got %v", err)
		}
	})
	t.Run("credentials refused", func(t *testing.T) {
		// The provider's identity is a RAM role it may not assume: STS refuses with NoPermission
		// (HTTP 403) before ACK is ever called. That is neither a missing cs: permission nor an
		// unreachable ACK API, and asking STS again does not help.
		const role = "acs:ram::1234567890123456:role/ack-deployer"
		sts := asmfake.NewSTS(account)
		if err := sts.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sts.Close() })
		sts.AddRole(asmfake.STSRole{ARN: role, Denied: true})
		id, err := alicred.Config{AccessKey: accessKey, SecretKey: secret, STSEndpoint: sts.Endpoint(),
			AssumeRole: &alicred.AssumeRole{RoleARN: role}}.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		refused, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: fake.Endpoint(), Attempts: 3,
			Credentials: id.Credentials})
		if err != nil {
			t.Fatal(err)
		}
		before := account.CountRequests(asmfake.ActionAssumeRole)
		_, err = refused.UserKubeconfig(t.Context(), clusterID, false, time.Hour)
		var credErr *alicred.Error
		if !errors.As(err, &credErr) || credErr.Code != "NoPermission" || !strings.Contains(err.Error(), role) ||
			strings.Contains(err.Error(), "cs:DescribeClusterUserKubeconfig") || strings.Contains(err.Error(), "could not be reached") {
			t.Errorf("want the STS refusal naming the role, not a cs: permission or an unreachable API; got %v", err)
		}
		if n := account.CountRequests(asmfake.ActionAssumeRole) - before; n != 1 {
			t.Errorf("%d AssumeRole calls, want 1: a refusal is not retried", n)
		}
	})
	t.Run("throttled then served", func(t *testing.T) {
		account.InjectFault("DescribeClusterUserKubeconfig", asmfake.Fault{Code: asmfake.CodeThrottling, Times: 1})
		before := account.CountRequests("DescribeClusterUserKubeconfig")
		if _, err := client.UserKubeconfig(t.Context(), clusterID, false, time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := account.CountRequests("DescribeClusterUserKubeconfig") - before; n != 2 {
			t.Errorf("%d calls, want a throttled one and its retry", n)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		unreachable, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: "127.0.0.1:1", Attempts: 1,
			Credentials: credentials.NewStaticAKCredentialsProvider(accessKey, secret)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = unreachable.UserKubeconfig(t.Context(), clusterID, false, time.Hour)
		if err == nil || !strings.Contains(err.Error(), "endpoints.cs") {
			t.Errorf("want an error naming endpoints.cs; got %v", err)
		}
	})
	t.Run("persistent 5xx gives up", func(t *testing.T) {
		account.InjectFault("DescribeClusterUserKubeconfig", asmfake.Fault{Code: asmfake.CodeServiceUnavailable, Times: 3})
		_, err := client.UserKubeconfig(t.Context(), clusterID, false, time.Hour)
		var e *Error
		if !errors.As(err, &e) || e.HTTPStatus != http.StatusServiceUnavailable || e.Code != asmfake.CodeServiceUnavailable {
			t.Errorf("want the last 503 after 3 attempts; got %v", err)
		}
	})
}

func TestRenewalTime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for life, want := range map[time.Duration]time.Duration{
		time.Hour:        45 * time.Minute,
		15 * time.Minute: 11*time.Minute + 15*time.Second,
		4 * time.Minute:  2 * time.Minute,
		8 * time.Second:  4 * time.Second,
	} {
		if got := renewalTime(now, now.Add(life)).Sub(now); got != want {
			t.Errorf("life %s: renewed after %s, want %s", life, got, want)
		}
	}
}
