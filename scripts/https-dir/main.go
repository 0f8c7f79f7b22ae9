// Command https-dir serves a folder over HTTPS on 127.0.0.1 until it is killed, for
// scripts/mirror-install.sh: Terraform reaches a provider network mirror over HTTPS only.
//
//	https-dir DIR CERT_FILE URL_FILE
//
// It writes its self-signed certificate (for 127.0.0.1) to CERT_FILE, for the client's
// SSL_CERT_FILE, and then its base URL to URL_FILE, which therefore appears only once it serves.
package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: https-dir DIR CERT_FILE URL_FILE")
		os.Exit(2)
	}
	dir, certFile, urlFile := os.Args[1], os.Args[2], os.Args[3]
	// httptest's server listens on 127.0.0.1 only, with a certificate valid for that address.
	srv := httptest.NewTLSServer(http.FileServer(http.Dir(dir)))
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		fail(err)
	}
	if err := os.WriteFile(urlFile+".tmp", []byte(srv.URL+"/\n"), 0o600); err != nil {
		fail(err)
	}
	if err := os.Rename(urlFile+".tmp", urlFile); err != nil {
		fail(err)
	}
	select {}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "https-dir:", err)
	os.Exit(1)
}
