package ack

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

// kubeconfigWith is an ACK-shaped kubeconfig for server whose user holds cred.
func kubeconfigWith(t *testing.T, cred asmfake.KubeCredential) []byte {
	t.Helper()
	config := clientcmdapi.NewConfig()
	config.Clusters["kubernetes"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443"}
	config.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: cred.Token, ClientCertificateData: cred.ClientCertificate,
		ClientKeyData: cred.ClientKey}
	config.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "kubernetes", AuthInfo: "user"}
	config.CurrentContext = "ctx"
	data, err := clientcmd.Write(*config)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestExpirationFallsBackToTheCredential: without an expiration in ACK's answer, the client
// certificate's NotAfter says when to renew, else the lifetime asked for; never "never".
func TestExpirationFallsBackToTheCredential(t *testing.T) {
	now := time.Now()
	notAfter := now.Add(40 * time.Minute).Truncate(time.Second)
	cert, err := newCertAuthority(t).issue(notAfter)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := parseKubeconfig(&Kubeconfig{Config: kubeconfigWith(t, cert)}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !cred.expiration.Equal(notAfter) || cred.renewAt.IsZero() || !cred.renewAt.Before(notAfter) {
		t.Errorf("client certificate: expiration %s, renewal %s; want the certificate's NotAfter %s and a renewal before it",
			cred.expiration, cred.renewAt, notAfter)
	}
	cred, err = parseKubeconfig(&Kubeconfig{Config: kubeconfigWith(t, asmfake.KubeCredential{Token: "t"})}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !cred.expiration.Equal(now.Add(time.Hour)) || cred.renewAt.IsZero() {
		t.Errorf("token: expiration %s, renewal %s; want the lifetime asked for", cred.expiration, cred.renewAt)
	}
}

// TestUnreadableExpirationIsNotAnError: ACK's answer with an expiration that is not RFC 3339 still
// gives a usable kubeconfig.
func TestUnreadableExpirationIsNotAnError(t *testing.T) {
	config := kubeconfigWith(t, asmfake.KubeCredential{Token: "t"})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"config": %q, "expiration": "2026-01-01 00:00:00 +0800"}`, config)
	}))
	t.Cleanup(server.Close)
	client, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: strings.TrimPrefix(server.URL, "http://"),
		Credentials: credentials.NewStaticAKCredentialsProvider(accessKey, secret)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := client.UserKubeconfig(t.Context(), clusterID, false, time.Hour)
	if err != nil || !k.Expiration.IsZero() {
		t.Errorf("got %+v, %v; want the kubeconfig with no expiration", k, err)
	}
}

// revokingAPIServer accepts the tokens of the kubeconfigs issued, except those revoked.
type revokingAPIServer struct {
	*httptest.Server
	mu      sync.Mutex
	revoked map[string]bool
	all     bool
}

func startRevokingAPIServer(t *testing.T) *revokingAPIServer {
	s := &revokingAPIServer{revoked: map[string]bool{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.all || s.revoked[token] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestUnauthorizedFetchesANewKubeconfigOnce(t *testing.T) {
	server := startRevokingAPIServer(t)
	account, fake, client := startACK(t, nil, 0)
	fake.AddCluster(asmfake.ACKCluster{ID: clusterID, PublicServer: server.URL, CACertificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}),
		Issue: func(time.Time) (asmfake.KubeCredential, error) {
			return asmfake.KubeCredential{Token: "tok-" + fmt.Sprint(time.Now().UnixNano())}, nil
		}})
	access := NewAccess(client, clusterID, false, time.Hour)
	cfg, err := access.RESTConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	server.mu.Lock()
	server.revoked[access.current.token] = true
	server.mu.Unlock()
	fetches := func() int { return account.CountRequests("DescribeClusterUserKubeconfig") }
	before := fetches()
	if code := get(t, access, cfg.Host); code != http.StatusOK || fetches()-before != 1 {
		t.Errorf("revoked credential: answered %d after %d fetches, want 200 after 1", code, fetches()-before)
	}

	server.mu.Lock()
	server.all = true
	server.mu.Unlock()
	before = fetches()
	if code := get(t, access, cfg.Host); code != http.StatusUnauthorized || fetches()-before != 1 {
		t.Errorf("refused whatever the credential: answered %d after %d fetches, want the 401 after 1", code, fetches()-before)
	}
}

// TestRenewalDoesNotHoldRequests: while a renewal waits on a slow ACK API, requests go on with the
// current credential, which is still valid.
func TestRenewalDoesNotHoldRequests(t *testing.T) {
	server := startAPIServer(t)
	account, _, client := startACK(t, server, 6*time.Second)
	access := NewAccess(client, clusterID, false, time.Hour)
	cfg, err := access.RESTConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first := access.current
	account.InjectFault("DescribeClusterUserKubeconfig", asmfake.Fault{Latency: 2 * time.Second, Times: 1})
	time.Sleep(time.Until(first.renewAt))
	for range 5 {
		start := time.Now()
		if code := get(t, access, cfg.Host); code != http.StatusOK {
			t.Fatalf("answered %d", code)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("a request took %s during the renewal", took)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for access.currentCredential() == first {
		if ctx.Err() != nil {
			t.Fatal("the credential was never renewed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *Access) currentCredential() *credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}

func TestCSEndpointWithAScheme(t *testing.T) {
	_, fake, _ := startACK(t, nil, 0)
	creds := credentials.NewStaticAKCredentialsProvider(accessKey, secret)
	client, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: "http://" + fake.Endpoint() + "/", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UserKubeconfig(t.Context(), clusterID, false, time.Hour); err != nil {
		t.Errorf("an endpoint URL that agrees with protocol: %v", err)
	}
	for endpoint, want := range map[string]string{
		"https://" + fake.Endpoint():            `set protocol = "HTTPS"`,
		"http://" + fake.Endpoint() + "/api/v1": "a path is not supported",
		"http://":                               "give host[:port] only",
	} {
		if _, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: endpoint, Credentials: creds}); err == nil ||
			!strings.Contains(err.Error(), "endpoints.cs") || !strings.Contains(err.Error(), want) {
			t.Errorf("endpoint %q: want an error naming endpoints.cs and saying %q, got %v", endpoint, want, err)
		}
	}
}
