package asmfake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// kubeCredentials are a CA and a client certificate it signed, base64 PEM as kubeconfigs hold them.
// They are real so that a generated kubeconfig loads in client-go; no API server trusts them.
type kubeCredentials struct {
	caData, certData, keyData string
}

// generatedKubeconfig is shaped like ASM's: one cluster, one user named after the account, client
// certificate auth. The credentials are made once per Server, as key generation is the slow part.
func (s *Server) generatedKubeconfig(meshID, server string) string {
	if s.kubeCreds == nil {
		s.kubeCreds = newKubeCredentials()
	}
	const user = "asmfake-user"
	return fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    server: %s
    certificate-authority-data: %s
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: "%s"
  name: %s-%s
current-context: %s-%s
kind: Config
preferences: {}
users:
- name: "%s"
  user:
    client-certificate-data: %s
    client-key-data: %s
`, server, s.kubeCreds.caData, user, user, meshID, user, meshID, user, s.kubeCreds.certData, s.kubeCreds.keyData)
}

func newKubeCredentials() *kubeCredentials {
	now := time.Now()
	caKey := newKey()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "asmfake-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER := mustCreateCertificate(caTemplate, caTemplate, caKey, caKey)

	clientKey := newKey()
	clientTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "asmfake-user", Organization: []string{"system:users"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientDER := mustCreateCertificate(clientTemplate, caTemplate, clientKey, caKey)
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		panic("asmfake: encoding a fresh P-256 key: " + err.Error())
	}
	return &kubeCredentials{
		caData:   pemBase64("CERTIFICATE", caDER),
		certData: pemBase64("CERTIFICATE", clientDER),
		keyData:  pemBase64("EC PRIVATE KEY", keyDER),
	}
}

func newKey() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("asmfake: generating a P-256 key: " + err.Error())
	}
	return key
}

// mustCreateCertificate panics because the templates are fixed: failing here is a bug, not an input error.
func mustCreateCertificate(template, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) []byte {
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		panic("asmfake: creating a certificate: " + err.Error())
	}
	return der
}

func pemBase64(blockType string, der []byte) string {
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}))
}
