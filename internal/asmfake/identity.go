package asmfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// The doubles of this file hand out temporary credentials for an account: an STS endpoint, an ECS
// instance metadata service and a credentials URI. Every credential they issue is added to the
// account, with its expiration, so ASM and ACK accept it until then and refuse it after.

// stsTimeLayout is how STS, instance metadata and credentials URIs write Expiration, and the only
// layout credentials-go parses (credentials/providers/ram_role_arn.go, ecs_ram_role.go, uri.go).
const stsTimeLayout = "2006-01-02T15:04:05Z"

// issuer is a double that hands out the account's temporary credentials, remembering each, so
// that a test can tell how many it issued: a renewal is a new one.
type issuer struct {
	account *Server

	issuedMu sync.Mutex
	issued   []Credential
}

func (i *issuer) issue(lifetime time.Duration, now time.Time) Credential {
	c := i.account.issue(lifetime, now)
	i.issuedMu.Lock()
	defer i.issuedMu.Unlock()
	i.issued = append(i.issued, c)
	return c
}

// Issued returns the credentials handed out so far, oldest first.
func (i *issuer) Issued() []Credential {
	i.issuedMu.Lock()
	defer i.issuedMu.Unlock()
	return append([]Credential(nil), i.issued...)
}

// issue mints an STS credential of the account that stops working after lifetime.
func (s *Server) issue(lifetime time.Duration, now time.Time) Credential {
	c := Credential{
		AccessKeyID:     "STS." + hex.EncodeToString(randomBytes(12)),
		AccessKeySecret: hex.EncodeToString(randomBytes(20)),
		SecurityToken:   "CAIS" + hex.EncodeToString(randomBytes(48)),
		// Second precision, as written on the wire: the account must not accept it longer than
		// the client was told.
		Expiration: now.Add(lifetime).Truncate(time.Second),
	}
	s.AddCredential(c)
	return c
}

// wireCredentials is the credential object of STS answers and of metadata and URI answers.
type wireCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

func wireCredentialsOf(c Credential) wireCredentials {
	return wireCredentials{AccessKeyID: c.AccessKeyID, AccessKeySecret: c.AccessKeySecret,
		SecurityToken: c.SecurityToken, Expiration: c.Expiration.UTC().Format(stsTimeLayout)}
}

// loopback serves one double on 127.0.0.1 at a free port.
type loopback struct {
	httpServer *http.Server
	endpoint   string
}

func (l *loopback) start(handler http.Handler, withTLS bool) error {
	if l.httpServer != nil {
		return errors.New("asmfake: server already started")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("asmfake: listening on loopback: %w", err)
	}
	l.endpoint = listener.Addr().String()
	l.httpServer = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if withTLS {
		cert, err := loopbackCertificate()
		if err != nil {
			_ = listener.Close()
			return err
		}
		listener = tls.NewListener(listener, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	go func() { _ = l.httpServer.Serve(listener) }()
	return nil
}

// Endpoint is the double's "127.0.0.1:PORT"; empty before Start.
func (l *loopback) Endpoint() string { return l.endpoint }

// Close stops serving.
func (l *loopback) Close() error {
	if l.httpServer == nil {
		return nil
	}
	return l.httpServer.Close()
}

var (
	loopbackCAOnce sync.Once
	loopbackCert   tls.Certificate
	loopbackCAErr  error
)

// loopbackCertificate is a certificate for 127.0.0.1 from a CA made for this process, which it
// trusts from then on. credentials-go speaks HTTPS to STS whatever the endpoint, through a clone of
// http.DefaultTransport made for every request (credentials/internal/http/http.go): adding the CA
// to that transport's roots is the one way to have it trust a double, and touches nothing else.
func loopbackCertificate() (tls.Certificate, error) {
	loopbackCAOnce.Do(func() { loopbackCert, loopbackCAErr = makeLoopbackCertificate() })
	return loopbackCert, loopbackCAErr
}

func makeLoopbackCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "asmfake loopback"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	transport, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return tls.Certificate{}, errors.New("asmfake: http.DefaultTransport is not an *http.Transport")
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(parsed)
	if transport.TLSClientConfig == nil {
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	transport.TLSClientConfig.RootCAs = roots
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, nil
}
