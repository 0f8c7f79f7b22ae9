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
// when RESTConfig is called, a new one whenever the current credential nears its expiration or the
// apiserver stops accepting it. A credential never leaves this type: it is not logged, and the
// rest.Config it returns holds none.
type Access struct {
	client    *Client
	clusterID string
	private   bool
	lifetime  time.Duration

	// fetch serializes fetching kubeconfigs; mu guards the fields below and is never held while
	// fetching, so that requests go on with a valid credential while a renewal is under way.
	fetch    sync.Mutex
	mu       sync.Mutex
	current  *credential
	renewing bool
}

// credential is one fetched kubeconfig: where the apiserver is, and how to authenticate to it.
type credential struct {
	host       string
	token      string
	expiration time.Time // zero: unknown, never renewed for it
	renewAt    time.Time // zero: never
	// transport carries requests made with this credential. A renewed credential gets a new one, so
	// that a client certificate is presented again on new connections, while watches still streaming
	// on the old connections go on until they end.
	transport *http.Transport
}

// backgroundRenewalTimeout bounds one renewal made while the current credential is still valid,
// retries included.
const backgroundRenewalTimeout = 2 * time.Minute

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

// RoundTrip sends r with the current credential, renewing it first when it is due. An apiserver
// that answers 401 no longer accepts the credential (revoked, or its expiration was not told):
// a new kubeconfig is fetched once and the request sent again with it.
func (a *Access) RoundTrip(r *http.Request) (*http.Response, error) {
	cred, err := a.credential(r.Context())
	if err != nil {
		return nil, err
	}
	resp, err := send(cred, r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (r.Body != nil && r.Body != http.NoBody && r.GetBody == nil) {
		return resp, err
	}
	// Without another credential to be had, the 401 is the answer.
	if next, renewErr := a.replace(r.Context(), cred); renewErr == nil && next != cred {
		_ = resp.Body.Close()
		if r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			r = r.Clone(r.Context())
			r.Body = body
		}
		return send(next, r)
	}
	return resp, nil
}

func send(cred *credential, r *http.Request) (*http.Response, error) {
	if cred.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+cred.token)
	}
	return cred.transport.RoundTrip(r)
}

// credential returns the current credential. One due for renewal but still valid is returned at
// once while a renewal runs in the background; without a valid one, the caller waits for a fetch.
func (a *Access) credential(ctx context.Context) (*credential, error) {
	a.mu.Lock()
	cur := a.current
	now := time.Now()
	switch {
	case cur != nil && (cur.renewAt.IsZero() || now.Before(cur.renewAt)):
		a.mu.Unlock()
		return cur, nil
	case cur != nil && now.Before(cur.expiration):
		if !a.renewing {
			a.renewing = true
			go a.renewInBackground(cur)
		}
		a.mu.Unlock()
		return cur, nil
	}
	a.mu.Unlock()
	return a.replace(ctx, cur)
}

func (a *Access) renewInBackground(cur *credential) {
	ctx, cancel := context.WithTimeout(context.Background(), backgroundRenewalTimeout)
	defer cancel()
	// A failure keeps the current credential while it is valid: a passing ACK API outage does not
	// fail requests that would still succeed. The next request after it tries again.
	_, _ = a.replace(ctx, cur)
	a.mu.Lock()
	a.renewing = false
	a.mu.Unlock()
}

// replace fetches a new kubeconfig unless stale is no longer the current credential (another
// caller replaced it meanwhile), and returns the credential to use.
func (a *Access) replace(ctx context.Context, stale *credential) (*credential, error) {
	a.fetch.Lock()
	defer a.fetch.Unlock()
	a.mu.Lock()
	cur := a.current
	a.mu.Unlock()
	if cur != stale {
		return cur, nil
	}
	now := time.Now()
	kubeconfig, err := a.client.UserKubeconfig(ctx, a.clusterID, a.private, a.lifetime)
	if err == nil {
		var next *credential
		if next, err = parseKubeconfig(kubeconfig, now, a.lifetime); err == nil {
			a.mu.Lock()
			a.current = next
			a.mu.Unlock()
			if cur != nil {
				cur.transport.CloseIdleConnections()
			}
			return next, nil
		}
		err = fmt.Errorf("the kubeconfig ACK returned for cluster %s cannot be used: %w", a.clusterID, err)
	}
	switch {
	case cur == nil:
		return nil, err
	case cur.expiration.IsZero() || time.Now().Before(cur.expiration):
		return cur, nil
	}
	return nil, fmt.Errorf("the credential for ACK cluster %s expired at %s and renewing it failed: %w",
		a.clusterID, cur.expiration.Format(time.RFC3339), err)
}

// parseKubeconfig reads the current context of an ACK kubeconfig: the apiserver's URL and CA, and a
// client certificate (what ACK issues) or a bearer token. Without an expiration in ACK's answer,
// the client certificate's NotAfter tells it, else the lifetime asked for.
func parseKubeconfig(k *Kubeconfig, now time.Time, lifetime time.Duration) (*credential, error) {
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
	switch {
	case !cred.expiration.IsZero():
	case len(tlsConfig.Certificates) > 0:
		// tls.X509KeyPair fills Leaf.
		cred.expiration = tlsConfig.Certificates[0].Leaf.NotAfter
	case lifetime > 0:
		cred.expiration = now.Add(lifetime)
	}
	if !cred.expiration.IsZero() {
		cred.renewAt = renewalTime(now, cred.expiration)
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
