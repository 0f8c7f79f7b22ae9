package testcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StopAPIServer stops kube-apiserver as a crash or an upgrade would: open connections and watches
// break and new ones are refused. etcd keeps running and keeps the data.
func (c *Cluster) StopAPIServer() error {
	if err := c.env.ControlPlane.APIServer.Stop(); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts a stopped kube-apiserver again, on the same address with the same
// certificates, so clients configured before the stop work unchanged. It returns once it is healthy.
func (c *Cluster) StartAPIServer() error {
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// ServiceAccountToken mints a bound service-account token for namespace/name that expires at
// expiry, signed with the apiserver's own signing key, exactly as the TokenRequest API would sign
// it (ES256). Unlike TokenRequest (at least 10 minutes), it can mint a token that has already expired.
// uid must be the ServiceAccount's uid.
func (c *Cluster) ServiceAccountToken(namespace, name, uid string, expiry time.Time) (string, error) {
	apiserver := c.env.ControlPlane.APIServer
	key, err := readSigningKey(filepath.Join(apiserver.CertDir, "sa-signer.key"))
	if err != nil {
		return "", err
	}
	issuer := apiserver.SecureServing.URL("https", "/").String()
	issued := expiry.Add(-time.Hour)
	claims := map[string]any{
		"iss": issuer,
		"aud": []string{issuer}, // the apiserver's audience defaults to its issuer
		"sub": "system:serviceaccount:" + namespace + ":" + name,
		"iat": issued.Unix(), "nbf": issued.Unix(), "exp": expiry.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]string{"name": name, "uid": uid},
		},
	}
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign service-account token: %w", err)
	}
	// JWS ES256 signatures are r and s as fixed-width big-endian integers, not ASN.1.
	signature := make([]byte, 64)
	r.FillBytes(signature[:32])
	s.FillBytes(signature[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(signature), nil
}

// readSigningKey reads envtest's service-account signing key, a P-256 ECDSA key.
func readSigningKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the service-account signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if key, ecErr := x509.ParseECPrivateKey(block.Bytes); ecErr == nil {
			parsed = key
		} else {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s is a %T, want a P-256 ECDSA key", path, parsed)
	}
	return key, nil
}
