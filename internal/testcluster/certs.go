package testcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
)

// newCert makes a P-256 key and a certificate for it from template, signed by parentKey as parent,
// or self-signed when parent is nil.
func newCert(template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (certDER []byte, key *ecdsa.PrivateKey, err error) {
	if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	certDER, err = x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	return certDER, key, err
}

// writeCertAndKey writes certDER and key PEM-encoded, readable by their owner only, as the files
// certName and keyName in dir, which it creates; it returns the certificate's PEM.
func writeCertAndKey(dir, certName, keyName string, certDER []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	if err := os.WriteFile(filepath.Join(dir, certName), certPEM, 0o600); err != nil {
		return nil, err
	}
	return certPEM, os.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}
