package asmfake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// These tests send hand-signed requests for what the SDK cannot be made to send; the signing itself
// is proven against the SDK in sdk_test.go.

const (
	testAccessKey = "LTAI5tAsmFakeTestKey02"
	testSecret    = "asmfake-test-secret"
)

func startTestServer(t *testing.T) *Server {
	t.Helper()
	srv := New(Options{})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	srv.AddCredential(Credential{AccessKeyID: testAccessKey, AccessKeySecret: testSecret})
	return srv
}

// send posts a DescribeServiceMeshes call, signed after edit has changed its parameters.
func send(t *testing.T, srv *Server, edit func(map[string]string)) (int, errorBody) {
	t.Helper()
	params := map[string]string{
		"Action":           "DescribeServiceMeshes",
		"Version":          apiVersion,
		"Format":           "JSON",
		"AccessKeyId":      testAccessKey,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureVersion": "1.0",
		"SignatureType":    "",
		"SignatureNonce":   newResourceID(),
		"Timestamp":        time.Now().UTC().Format(timestampLayout),
		"RegionId":         "cn-hangzhou",
	}
	edit(params)
	params["Signature"] = sign(stringToSign(http.MethodPost, params), testSecret)
	query := url.Values{}
	for key, value := range params {
		query.Set(key, value)
	}
	response, err := http.Post(srv.URL()+"/?"+query.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = response.Body.Close() }() // the body is read in full; a close error cannot change the result
	var body errorBody
	if err := json.NewDecoder(response.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return response.StatusCode, body
}

func TestTimestamp(t *testing.T) {
	srv := startTestServer(t)
	for _, tc := range []struct {
		name      string
		timestamp string
		status    int
		code      string
	}{
		{"current", time.Now().UTC().Format(timestampLayout), http.StatusOK, ""},
		{"14 minutes slow", time.Now().Add(-14 * time.Minute).UTC().Format(timestampLayout), http.StatusOK, ""},
		{"20 minutes slow", time.Now().Add(-20 * time.Minute).UTC().Format(timestampLayout), http.StatusBadRequest, CodeTimestampExpired},
		{"20 minutes fast", time.Now().Add(20 * time.Minute).UTC().Format(timestampLayout), http.StatusBadRequest, CodeTimestampExpired},
		{"not ISO 8601", time.Now().Format(time.RFC1123), http.StatusBadRequest, CodeInvalidTimestampFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(t, srv, func(p map[string]string) { p["Timestamp"] = tc.timestamp })
			if status != tc.status || body.Code != tc.code {
				t.Errorf("got %d %q (%s), want %d %q", status, body.Code, body.Message, tc.status, tc.code)
			}
		})
	}
}

func TestProtocolParameters(t *testing.T) {
	srv := startTestServer(t)
	for _, tc := range []struct {
		name string
		edit func(map[string]string)
		code string
	}{
		{"no nonce", func(p map[string]string) { delete(p, "SignatureNonce") }, CodeMissingParameter},
		{"no access key", func(p map[string]string) { delete(p, "AccessKeyId") }, CodeMissingParameter},
		{"SHA256 method", func(p map[string]string) { p["SignatureMethod"] = "HMAC-SHA256" }, CodeInvalidSignatureMethod},
		{"signature version 2", func(p map[string]string) { p["SignatureVersion"] = "2.0" }, CodeInvalidSignatureVersion},
		{"XML", func(p map[string]string) { p["Format"] = "XML" }, CodeInvalidFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(t, srv, tc.edit)
			if status != http.StatusBadRequest || body.Code != tc.code {
				t.Errorf("got %d %q (%s), want 400 %q", status, body.Code, body.Message, tc.code)
			}
		})
	}
}
