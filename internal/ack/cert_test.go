package ack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

// certAuthority signs client certificates, as ACK's cluster CA does for the kubeconfigs it issues.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCertAuthority(t *testing.T) *certAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &certAuthority{cert: cert, key: key, pool: pool}
}

var serials struct {
	sync.Mutex
	next int64
}

func (ca *certAuthority) issue(expiry time.Time) (asmfake.KubeCredential, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return asmfake.KubeCredential{}, err
	}
	serials.Lock()
	serials.next++
	serial := serials.next + 1
	serials.Unlock()
	template := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "27000000000000000"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: expiry,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return asmfake.KubeCredential{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return asmfake.KubeCredential{}, err
	}
	return asmfake.KubeCredential{
		ClientCertificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		ClientKey:         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// TestAccessRenewsClientCertificates is the credential ACK really issues, a client certificate,
// against a server that, like kube-apiserver, verifies the certificate on every request, not only
// at the handshake (k8s.io/apiserver pkg/authentication/request/x509, AuthenticateRequest): a
// renewed certificate has to reach new requests although HTTP/2 would reuse the old connection.
func TestAccessRenewsClientCertificates(t *testing.T) {
	ca := newCertAuthority(t)
	var mu sync.Mutex
	seen, rejected := map[string]bool{}, 0
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			rejected++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		cert := r.TLS.PeerCertificates[0]
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			rejected++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		seen[cert.SerialNumber.String()] = true
		w.WriteHeader(http.StatusOK)
	}))
	server.EnableHTTP2 = true
	server.TLS = &tls.Config{ClientCAs: ca.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	server.StartTLS()
	t.Cleanup(server.Close)

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
	fake.AddCluster(asmfake.ACKCluster{ID: clusterID, PublicServer: server.URL, CredentialLifetime: 3 * time.Second,
		CACertificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}), Issue: ca.issue})
	client, err := NewClient(Config{Region: "cn-hangzhou", Scheme: "HTTP", Endpoint: fake.Endpoint(),
		Credentials: credentials.NewStaticAKCredentialsProvider(accessKey, secret)})
	if err != nil {
		t.Fatal(err)
	}
	access := NewAccess(client, clusterID, false, time.Hour)
	cfg, err := access.RESTConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		if code := get(t, access, cfg.Host); code != http.StatusOK {
			t.Fatalf("request answered %d", code)
		}
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= 3, nil
	})
	if err != nil {
		t.Fatalf("three certificates were not used in turn: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if rejected != 0 {
		t.Errorf("%d requests carried an expired or missing certificate", rejected)
	}
}
