package asmfake_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cs"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
)

const ackClusterID = "c00000000000000000000000000000ac1"

// startACK serves the ACK API for a fresh account with one cluster whose credentials are tokens
// naming their expiry.
func startACK(t *testing.T, cluster asmfake.ACKCluster) (*asmfake.Server, *asmfake.ACK) {
	t.Helper()
	account := startFake(t, asmfake.Options{})
	ack := asmfake.NewACK(account)
	if err := ack.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ack.Close() })
	if cluster.ID == "" {
		cluster.ID = ackClusterID
	}
	if cluster.Issue == nil {
		cluster.Issue = func(expiry time.Time) (asmfake.KubeCredential, error) {
			return asmfake.KubeCredential{Token: "token-until-" + expiry.Format(time.RFC3339)}, nil
		}
	}
	if cluster.PublicServer == "" {
		cluster.PublicServer, cluster.IntranetServer = "https://47.0.0.1:6443", "https://192.168.0.1:6443"
	}
	ack.AddCluster(cluster)
	return account, ack
}

// ackCaller is an SDK client for the fake. A ROA request's URL is "scheme://Domain:Port/path"
// (sdk/requests/roa_request.go BuildUrl), so the port goes into each request, not into Domain.
type ackCaller struct {
	client *cs.Client
	port   string
}

func ackClient(t *testing.T, ack *asmfake.ACK, credential auth.Credential) ackCaller {
	t.Helper()
	return ackClientWithConfig(t, ack, credential, sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false))
}

func ackClientWithConfig(t *testing.T, ack *asmfake.ACK, credential auth.Credential, config *sdk.Config) ackCaller {
	t.Helper()
	client, err := cs.NewClientWithOptions(region, config, credential)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(ack.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	client.Domain = host
	return ackCaller{client: client, port: port}
}

func userKubeconfig(c ackCaller, clusterID string, private bool, minutes int) (*cs.DescribeClusterUserKubeconfigResponse, error) {
	req := cs.CreateDescribeClusterUserKubeconfigRequest()
	req.Port = c.port
	req.ClusterId = clusterID
	req.PrivateIpAddress = requests.NewBoolean(private)
	if minutes > 0 {
		req.QueryParams["TemporaryDurationMinutes"] = fmt.Sprint(minutes)
	}
	return c.client.DescribeClusterUserKubeconfig(req)
}

// ackError reads an ACK error the way a client of the SDK has to: ACK's own codes are in the body,
// which the SDK leaves unparsed in Message().
func ackError(t *testing.T, err error, status int) (code string) {
	t.Helper()
	serverErr, ok := err.(*sdkerrors.ServerError)
	if !ok {
		t.Fatalf("want a ServerError with HTTP %d, got %T: %v", status, err, err)
	}
	if serverErr.HttpStatus() != status {
		t.Fatalf("HTTP status %d, want %d: %s", serverErr.HttpStatus(), status, serverErr.Message())
	}
	if code := serverErr.ErrorCode(); code != "" {
		return code // a gateway error, in the common shape
	}
	var body struct {
		Code      string `json:"code"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal([]byte(serverErr.Message()), &body); err != nil {
		t.Fatalf("ACK error body is not JSON: %q", serverErr.Message())
	}
	if body.RequestID == "" {
		t.Errorf("ACK error body has no requestId: %q", serverErr.Message())
	}
	return body.Code
}

func TestACKUserKubeconfig(t *testing.T) {
	_, ack := startACK(t, asmfake.ACKCluster{})
	client := ackClient(t, ack, credentials.NewAccessKeyCredential(accessKey, secret))

	for _, tc := range []struct {
		private bool
		minutes int
		server  string
		life    time.Duration
	}{
		{private: false, minutes: 15, server: "https://47.0.0.1:6443", life: 15 * time.Minute},
		{private: true, minutes: 4320, server: "https://192.168.0.1:6443", life: 72 * time.Hour},
		{private: false, minutes: 0, server: "https://47.0.0.1:6443", life: 3 * 365 * 24 * time.Hour},
	} {
		t.Run(fmt.Sprintf("private=%v minutes=%d", tc.private, tc.minutes), func(t *testing.T) {
			before := time.Now()
			resp, err := userKubeconfig(client, ackClusterID, tc.private, tc.minutes)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetHttpHeaders()["X-Acs-Request-Id"] == nil {
				t.Error("no x-acs-request-id header")
			}
			var body struct{ Config, Expiration string }
			if err := json.Unmarshal(resp.GetHttpContentBytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Config != resp.Config {
				t.Errorf("the SDK's Config field %q differs from the body's config", resp.Config)
			}
			expiration, err := time.Parse(time.RFC3339, body.Expiration)
			if err != nil || !strings.HasSuffix(body.Expiration, "Z") {
				t.Fatalf("expiration %q is not UTC RFC 3339: %v", body.Expiration, err)
			}
			if expiration.Before(before.Add(tc.life-time.Second)) || expiration.After(time.Now().Add(tc.life)) {
				t.Errorf("expiration %s is not %s from now", expiration, tc.life)
			}
			config, err := clientcmd.Load([]byte(body.Config))
			if err != nil {
				t.Fatal(err)
			}
			current := config.Contexts[config.CurrentContext]
			if current == nil || config.Clusters[current.Cluster].Server != tc.server {
				t.Fatalf("current context %q does not lead to %s: %+v", config.CurrentContext, tc.server, config.Clusters)
			}
			if token := config.AuthInfos[current.AuthInfo].Token; token != "token-until-"+body.Expiration {
				t.Errorf("the user's credential %q is not the one issued until the answered expiration", token)
			}
		})
	}
	if got := len(ack.Issued()); got != 3 {
		t.Errorf("Issued() has %d kubeconfigs, want 3", got)
	}
}

func TestACKTemporaryDurationOutOfRange(t *testing.T) {
	_, ack := startACK(t, asmfake.ACKCluster{})
	client := ackClient(t, ack, credentials.NewAccessKeyCredential(accessKey, secret))
	for _, minutes := range []int{14, 4321} {
		_, err := userKubeconfig(client, ackClusterID, false, minutes)
		if code := ackError(t, err, http.StatusBadRequest); code != asmfake.CodeInvalidParameter {
			t.Errorf("%d minutes: code %q, want %s", minutes, code, asmfake.CodeInvalidParameter)
		}
	}
}

func TestACKUnknownClusterAndMissingPermission(t *testing.T) {
	account, ack := startACK(t, asmfake.ACKCluster{})
	client := ackClient(t, ack, credentials.NewAccessKeyCredential(accessKey, secret))
	_, err := userKubeconfig(client, "c0000000000000000000000000000dead", false, 60)
	if code := ackError(t, err, http.StatusNotFound); code != asmfake.CodeClusterNotFound {
		t.Errorf("unknown cluster: code %q, want %s", code, asmfake.CodeClusterNotFound)
	}

	account.AddCredential(asmfake.Credential{AccessKeyID: "LTAI5tNoCsPermission", AccessKeySecret: "s2"})
	ack.Deny("LTAI5tNoCsPermission")
	denied := ackClient(t, ack, credentials.NewAccessKeyCredential("LTAI5tNoCsPermission", "s2"))
	for _, id := range []string{ackClusterID, "c0000000000000000000000000000dead"} {
		_, err = userKubeconfig(denied, id, false, 60)
		if code := ackError(t, err, http.StatusForbidden); code != asmfake.CodeStatusForbidden {
			t.Errorf("denied key on %s: code %q, want %s", id, code, asmfake.CodeStatusForbidden)
		}
	}
	if len(ack.Issued()) != 0 {
		t.Errorf("kubeconfigs issued despite the refusals: %+v", ack.Issued())
	}
}

func TestACKSignature(t *testing.T) {
	account, ack := startACK(t, asmfake.ACKCluster{})
	account.AddCredential(asmfake.Credential{AccessKeyID: "STS.ack", AccessKeySecret: "sts-secret", SecurityToken: "tok"})

	t.Run("wrong secret", func(t *testing.T) {
		_, err := userKubeconfig(ackClient(t, ack, credentials.NewAccessKeyCredential(accessKey, "wrong")), ackClusterID, false, 60)
		serverErr := serverError(t, err, asmfake.CodeSignatureDoesNotMatch, http.StatusBadRequest)
		if !strings.Contains(serverErr.Message(), "server string to sign is:GET\n") ||
			!strings.Contains(serverErr.Message(), "/k8s/"+ackClusterID+"/user_config?PrivateIpAddress=false&TemporaryDurationMinutes=60") {
			t.Errorf("Message %q lacks the ROA string to sign", serverErr.Message())
		}
		// The SDK recognises a wrong secret only when the server's string to sign equals its own.
		if !strings.Contains(serverErr.Recommend(), "InvalidAccessKeySecret") {
			t.Errorf("Recommend = %q, want the SDK's wrong-secret explanation", serverErr.Recommend())
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := userKubeconfig(ackClient(t, ack, credentials.NewAccessKeyCredential("LTAI5tNobody", secret)), ackClusterID, false, 60)
		wantServerError(t, err, asmfake.CodeAccessKeyNotFound, http.StatusNotFound)
	})
	t.Run("STS token", func(t *testing.T) {
		if _, err := userKubeconfig(ackClient(t, ack, credentials.NewStsTokenCredential("STS.ack", "sts-secret", "tok")), ackClusterID, false, 60); err != nil {
			t.Fatal(err)
		}
		_, err := userKubeconfig(ackClient(t, ack, credentials.NewStsTokenCredential("STS.ack", "sts-secret", "other")), ackClusterID, false, 60)
		wantServerError(t, err, asmfake.CodeSecurityTokenMismatch, http.StatusBadRequest)
	})
	t.Run("query changed after signing", func(t *testing.T) {
		config := sdk.NewConfig().WithScheme("HTTP").WithAutoRetry(false)
		config.Transport = rewriteQuery{}
		client := ackClientWithConfig(t, ack, credentials.NewAccessKeyCredential(accessKey, secret), config)
		_, err := userKubeconfig(client, ackClusterID, false, 60)
		wantServerError(t, err, asmfake.CodeSignatureDoesNotMatch, http.StatusBadRequest)
	})
}

// rewriteQuery asks for the internal endpoint instead of the public one the request was signed for.
type rewriteQuery struct{}

func (rewriteQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "PrivateIpAddress=false", "PrivateIpAddress=true", 1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestACKFaultsAndRecorder(t *testing.T) {
	account, ack := startACK(t, asmfake.ACKCluster{})
	client := ackClient(t, ack, credentials.NewAccessKeyCredential(accessKey, secret))
	account.InjectFault("DescribeClusterUserKubeconfig", asmfake.Fault{Code: asmfake.CodeThrottling, Times: 1})
	account.InjectFault("DescribeClusterUserKubeconfig", asmfake.Fault{Code: asmfake.CodeServiceUnavailable, Times: 1})

	_, err := userKubeconfig(client, ackClusterID, false, 60)
	wantServerError(t, err, asmfake.CodeThrottling, http.StatusBadRequest)
	_, err = userKubeconfig(client, ackClusterID, false, 60)
	wantServerError(t, err, asmfake.CodeServiceUnavailable, http.StatusServiceUnavailable)
	if _, err := userKubeconfig(client, ackClusterID, false, 60); err != nil {
		t.Fatal(err)
	}
	if n := account.CountRequests("DescribeClusterUserKubeconfig"); n != 3 {
		t.Errorf("recorded %d calls, want 3", n)
	}
	last := account.Requests()[2]
	if last.Params["ClusterId"] != ackClusterID || last.Params["TemporaryDurationMinutes"] != "60" || last.Status != http.StatusOK {
		t.Errorf("last recorded call: %+v", last)
	}
}

func TestACKCredentialLifetimeKnob(t *testing.T) {
	_, ack := startACK(t, asmfake.ACKCluster{CredentialLifetime: 5 * time.Second})
	client := ackClient(t, ack, credentials.NewAccessKeyCredential(accessKey, secret))
	if _, err := userKubeconfig(client, ackClusterID, false, 60); err != nil {
		t.Fatal(err)
	}
	issued := ack.Issued()[0]
	if life := issued.Expiration.Sub(issued.Issued); life > 5*time.Second || life < 4*time.Second {
		t.Errorf("credential lives %s, want the 5s the knob sets", life)
	}
}
