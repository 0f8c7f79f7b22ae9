package ack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Access reaches one ACK cluster's apiserver with kubeconfigs fetched from the ACK API: the first
// when RESTConfig is called, a new one whenever the current credential nears its expiration. A
// credential never leaves this type: it is not logged, and the rest.Config it returns holds none.
type Access struct {
	client    *Client
	clusterID string
	private   bool
	lifetime  time.Duration

	mu      sync.Mutex
	current *credential
}

// credential is one fetched kubeconfig: where the apiserver is, and how to authenticate to it.
type credential struct {
	host       string
	token      string
	expiration time.Time
	renewAt    time.Time // zero: never
	// transport carries requests made with this credential. A renewed credential gets a new one, so
	// that a client certificate is presented again on new connections, while watches still streaming
	// on the old connections go on until they end.
	transport *http.Transport
}

// NewAccess asks for credentials valid for lifetime (ACK accepts 15 minutes to 3 days).
func NewAccess(client *Client, clusterID string, private bool, lifetime time.Duration) *Access {
	return &Access{client: client, clusterID: clusterID, private: private, lifetime: lifetime}
}

// RESTConfig fetches the first kubeconfig and returns a configuration for its apiserver whose
// transport keeps the credential current.
func (a *Access) RESTConfig(ctx context.Context) (*rest.Config, error) {
	cred, err := a.credential(ctx)
	if err != nil {
		return nil, err
	}
	return &rest.Config{Host: cred.host, Transport: a}, nil
}

// RoundTrip sends r with the current credential, renewing it first when it is due.
func (a *Access) RoundTrip(r *http.Request) (*http.Response, error) {
	cred, err := a.credential(r.Context())
	if err != nil {
		return nil, err
	}
	if cred.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+cred.token)
	}
	return cred.transport.RoundTrip(r)
}

// credential returns the current credential, fetching a new one when there is none or it is due for
// renewal. A failed renewal keeps the current credential while it is still valid: a passing ACK API
// outage does not fail requests that would still succeed.
func (a *Access) credential(ctx context.Context) (*credential, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	cur := a.current
	if cur != nil && (cur.renewAt.IsZero() || now.Before(cur.renewAt)) {
		return cur, nil
	}
	kubeconfig, err := a.client.UserKubeconfig(ctx, a.clusterID, a.private, a.lifetime)
	if err == nil {
		var next *credential
		if next, err = parseKubeconfig(kubeconfig, now); err == nil {
			if cur != nil {
				cur.transport.CloseIdleConnections()
			}
			a.current = next
			return next, nil
		}
		err = fmt.Errorf("the kubeconfig ACK returned for cluster %s cannot be used: %w", a.clusterID, err)
	}
	if cur != nil && time.Now().Before(cur.expiration) {
		return cur, nil
	}
	if cur != nil {
		return nil, fmt.Errorf("the credential for ACK cluster %s expired at %s and renewing it failed: %w",
			a.clusterID, cur.expiration.Format(time.RFC3339), err)
	}
	return nil, err
}

// parseKubeconfig reads the current context of an ACK kubeconfig: the apiserver's URL and CA, and a
// client certificate (what ACK issues) or a bearer token.
func parseKubeconfig(k *Kubeconfig, now time.Time) (*credential, error) {
	config, err := clientcmd.Load(k.Config)
	if err != nil {
		return nil, err
	}
	current, ok := config.Contexts[config.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("its current context %q is not defined", config.CurrentContext)
	}
	cluster, user := config.Clusters[current.Cluster], config.AuthInfos[current.AuthInfo]
	if cluster == nil || user == nil || cluster.Server == "" {
		return nil, fmt.Errorf("its context %q names no cluster server or user", config.CurrentContext)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cluster.CertificateAuthorityData) > 0 {
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(cluster.CertificateAuthorityData) {
			return nil, errors.New("its certificate-authority-data holds no PEM certificate")
		}
	}
	if len(user.ClientCertificateData) > 0 {
		cert, err := tls.X509KeyPair(user.ClientCertificateData, user.ClientKeyData)
		if err != nil {
			return nil, fmt.Errorf("its client certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	if user.Token == "" && len(tlsConfig.Certificates) == 0 {
		return nil, errors.New("its user has neither a client certificate nor a token")
	}
	cred := &credential{
		host:       cluster.Server,
		token:      user.Token,
		expiration: k.Expiration,
		transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsConfig,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	if !k.Expiration.IsZero() {
		cred.renewAt = renewalTime(now, k.Expiration)
	}
	return cred, nil
}

// renewalTime is when a credential valid from now until expiration is renewed: once three
// quarters of its life have passed, and at least two minutes before it expires when it lives
// long enough for that, so that a request in flight as it expires is rare.
func renewalTime(now, expiration time.Time) time.Time {
	life := expiration.Sub(now)
	margin := max(life/4, min(2*time.Minute, life/2))
	return expiration.Add(-margin)
}
