package asmfake

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ACK serves the part of ACK's Container Service API (product CS, version 2015-12-15) the provider
// calls, DescribeClusterUserKubeconfig, for the account of an ASM fake: the same access keys, and
// the same fault queue and request recorder (action "DescribeClusterUserKubeconfig"). ACK's API is
// ROA style: a REST path, parameters in the query, and a signature in the Authorization header, on
// a host of its own (cs.aliyuncs.com), so ACK is a server of its own here too.
type ACK struct {
	account *Server

	mu       sync.Mutex
	clusters map[string]ACKCluster
	denied   map[string]bool
	issued   []IssuedKubeconfig

	httpServer *http.Server
	endpoint   string
}

// ACKCluster is a cluster DescribeClusterUserKubeconfig answers for.
type ACKCluster struct {
	ID string
	// PublicServer and IntranetServer are the apiserver URLs written into kubeconfigs for the public
	// and the internal (PrivateIpAddress=true) endpoint.
	PublicServer, IntranetServer string
	// CACertificate is the apiserver's CA, PEM-encoded.
	CACertificate []byte
	// Issue mints a credential for the caller that stops working at expiry.
	Issue func(expiry time.Time) (KubeCredential, error)
	// CredentialLifetime, when set, is how long every credential issued lives, whatever was asked
	// for. Real ACK gives what TemporaryDurationMinutes asks (15 minutes at least); this knob
	// compresses time so that a test sees a credential expire within seconds. The expiration in the
	// answer is always the credential's real one, which is what a client has to go by.
	CredentialLifetime time.Duration
}

// KubeCredential is what a kubeconfig's user authenticates with. ACK issues client certificates;
// the local test cluster can mint bearer tokens with a chosen expiry, so either is accepted.
type KubeCredential struct {
	Token                        string
	ClientCertificate, ClientKey []byte
}

// IssuedKubeconfig records one kubeconfig handed out, for tests.
type IssuedKubeconfig struct {
	ClusterID   string
	AccessKeyID string
	Private     bool
	Issued      time.Time
	Expiration  time.Time
	Credential  KubeCredential
}

// ACK API constants, from the SDK (services/cs, describe_cluster_user_kubeconfig.go) and ACK's API
// reference for DescribeClusterUserKubeconfig
// (https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-describeclusteruserkubeconfig).
const (
	ackAPIVersion        = "2015-12-15"
	ackHostID            = "cs.aliyuncs.com"
	actionUserKubeconfig = "DescribeClusterUserKubeconfig"
	// Valid TemporaryDurationMinutes: "15 to 4320 (3 days)".
	minTemporaryMinutes = 15
	maxTemporaryMinutes = 4320
	// Without TemporaryDurationMinutes ACK issues its long-lived kubeconfig: "the default validity
	// period of a kubeconfig file is 3 years".
	defaultKubeconfigLifetime = 3 * 365 * 24 * time.Hour
)

// ACK's own error codes. ErrorClusterNotFound answers an unknown cluster with HTTP 404 (what the
// alicloud provider takes for a missing cluster: aliyun/terraform-provider-alicloud,
// alicloud/service_alicloud_cs.go, DescribeCsKubernetes).
// StatusForbidden answers a RAM user without the permission (HTTP 403; ACK's API reference,
// GrantPermissions: "otherwise the API returns the StatusForbidden error code").
const (
	CodeClusterNotFound = "ErrorClusterNotFound"
	CodeStatusForbidden = "StatusForbidden"
	// CodeIncompleteSignature is the gateway's answer to an Authorization header it cannot read.
	CodeIncompleteSignature = "IncompleteSignature"
)

// ackCodes are answered in ACK's own error shape; every other code comes from the gateway.
var ackCodes = map[string]int{
	CodeClusterNotFound: http.StatusNotFound,
	CodeStatusForbidden: http.StatusForbidden,
}

// NewACK returns an ACK API for account's access keys, with no clusters.
func NewACK(account *Server) *ACK {
	return &ACK{account: account, clusters: map[string]ACKCluster{}, denied: map[string]bool{}}
}

// Start serves the API over plain HTTP on 127.0.0.1 at a free port.
func (a *ACK) Start() error {
	if a.httpServer != nil {
		return errors.New("asmfake: ACK server already started")
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("asmfake: listening on loopback: %w", err)
	}
	a.endpoint = listener.Addr().String()
	a.httpServer = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.httpServer.Serve(listener) }()
	return nil
}

// Endpoint is the "127.0.0.1:PORT" to set as the cs endpoint; empty before Start.
func (a *ACK) Endpoint() string { return a.endpoint }

// Close stops serving.
func (a *ACK) Close() error {
	if a.httpServer == nil {
		return nil
	}
	return a.httpServer.Close()
}

// AddCluster makes a cluster known, replacing any with the same ID.
func (a *ACK) AddCluster(c ACKCluster) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clusters[c.ID] = c
}

// Deny takes cs:DescribeClusterUserKubeconfig away from an access key of the account.
func (a *ACK) Deny(accessKeyID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.denied[accessKeyID] = true
}

// Issued returns the kubeconfigs handed out so far, oldest first.
func (a *ACK) Issued() []IssuedKubeconfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]IssuedKubeconfig(nil), a.issued...)
}

// ServeHTTP answers one ROA call.
func (a *ACK) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	requestID := newRequestID()
	params := map[string]string{}
	for key, values := range r.URL.Query() {
		params[key] = values[0]
	}
	clusterID, matched := userConfigPath(r.URL.Path)
	if matched {
		params["ClusterId"] = clusterID
	}
	answer, failure, lost := a.serve(r, params, clusterID, matched, received)
	status, code := http.StatusOK, ""
	if failure != nil {
		status, code = failure.status, failure.code
	}
	if lost && failure == nil {
		status = 0
	}
	a.account.record(Request{Action: actionUserKubeconfig, Method: r.Method, Params: params, Time: received,
		Status: status, Code: code, AnswerLost: lost})
	if status == 0 {
		panic(http.ErrAbortHandler) // the connection closes without an answer
	}
	body := answer
	if failure != nil {
		body = ackErrorBody(failure, requestID)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// userConfigPath matches DescribeClusterUserKubeconfig's path, /k8s/{ClusterId}/user_config.
func userConfigPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/k8s/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/user_config")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

func (a *ACK) serve(r *http.Request, params map[string]string, clusterID string, matched bool, now time.Time) (any, *apiError, bool) {
	if !matched || r.Method != http.MethodGet {
		return nil, newError(CodeInvalidAction, "Specified api is not found, please check your url and method."), false
	}
	accessKeyID, failure := a.authenticate(r, now)
	if failure != nil {
		return nil, failure, false
	}
	fault, failure := a.account.applyFault(r.Context(), actionUserKubeconfig)
	if failure != nil && !fault.LoseAnswer {
		return nil, failure, false
	}
	answer, refusal := a.userKubeconfig(params, clusterID, accessKeyID, now)
	if fault.LoseAnswer {
		return nil, failure, true
	}
	return answer, refusal, false
}

type userKubeconfigAnswer struct {
	Config     string `json:"config"`
	Expiration string `json:"expiration"`
}

func (a *ACK) userKubeconfig(params map[string]string, clusterID, accessKeyID string, now time.Time) (any, *apiError) {
	private := false
	if v, ok := params["PrivateIpAddress"]; ok {
		var err error
		if private, err = strconv.ParseBool(v); err != nil {
			return nil, newError(CodeInvalidParameter, "PrivateIpAddress %q is not a boolean.", v)
		}
	}
	lifetime := defaultKubeconfigLifetime
	if v, ok := params["TemporaryDurationMinutes"]; ok {
		minutes, err := strconv.Atoi(v)
		if err != nil || minutes < minTemporaryMinutes || minutes > maxTemporaryMinutes {
			return nil, newError(CodeInvalidParameter, "TemporaryDurationMinutes %q must be between %d and %d.",
				v, minTemporaryMinutes, maxTemporaryMinutes)
		}
		lifetime = time.Duration(minutes) * time.Minute
	}

	a.mu.Lock()
	cluster, known := a.clusters[clusterID]
	denied := a.denied[accessKeyID]
	a.mu.Unlock()
	// The permission is checked before the cluster is looked up: a RAM policy names the resource
	// (acs:cs:*:*:cluster/<id>), so a caller without it learns nothing about which clusters exist.
	if denied {
		return nil, &apiError{status: http.StatusForbidden, code: CodeStatusForbidden, message: fmt.Sprintf(
			"RAM user is not authorized to perform cs:DescribeClusterUserKubeconfig on acs:cs:*:*:cluster/%s", clusterID)}
	}
	if !known {
		return nil, &apiError{status: http.StatusNotFound, code: CodeClusterNotFound,
			message: fmt.Sprintf("cluster %s not found", clusterID)}
	}
	if cluster.CredentialLifetime > 0 {
		lifetime = cluster.CredentialLifetime
	}
	// ACK documents the expiration as "the UTC time in RFC 3339 format", e.g. 2024-03-10T09:56:17Z.
	// Whole seconds, so that the credential expires no later than the answer says.
	expiration := now.Add(lifetime).UTC().Truncate(time.Second)
	credential, err := cluster.Issue(expiration)
	if err != nil {
		return nil, newError(CodeInternalError, "issuing a credential: %v", err)
	}
	server := cluster.PublicServer
	if private {
		server = cluster.IntranetServer
	}
	config, err := kubeconfigFor(cluster, server, accessKeyID, credential)
	if err != nil {
		return nil, newError(CodeInternalError, "writing the kubeconfig: %v", err)
	}
	a.mu.Lock()
	a.issued = append(a.issued, IssuedKubeconfig{ClusterID: clusterID, AccessKeyID: accessKeyID, Private: private,
		Issued: now, Expiration: expiration, Credential: credential})
	a.mu.Unlock()
	return userKubeconfigAnswer{Config: string(config), Expiration: expiration.Format(time.RFC3339)}, nil
}

// kubeconfigFor writes a kubeconfig shaped like ACK's: cluster "kubernetes", the caller's RAM UID
// as user, and a context "<uid>-<cluster id>" (ACK console, "Connect to a cluster by using kubectl").
func kubeconfigFor(c ACKCluster, server, accessKeyID string, cred KubeCredential) ([]byte, error) {
	uid := ramUID(accessKeyID)
	config := clientcmdapi.NewConfig()
	config.Clusters["kubernetes"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.CACertificate}
	config.AuthInfos[uid] = &clientcmdapi.AuthInfo{Token: cred.Token,
		ClientCertificateData: cred.ClientCertificate, ClientKeyData: cred.ClientKey}
	name := uid + "-" + c.ID
	config.Contexts[name] = &clientcmdapi.Context{Cluster: "kubernetes", AuthInfo: uid}
	config.CurrentContext = name
	return clientcmd.Write(*config)
}

// ramUID is a stable 16-digit account UID for an access key, the form of Alibaba Cloud UIDs.
func ramUID(accessKeyID string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(accessKeyID))
	return fmt.Sprintf("2%015d", h.Sum64()%1_000_000_000_000_000)
}

// authenticate checks an ROA request's signature the way the SDK makes it
// (sdk/auth/roa_signature_composer.go): "acs <AccessKeyId>:<base64 HMAC-SHA1>" in Authorization,
// over the method, the Accept, Content-MD5, Content-Type and Date headers, every x-acs-* header
// sorted by name, and the path with its sorted, unencoded query.
func (a *ACK) authenticate(r *http.Request, now time.Time) (string, *apiError) {
	for _, name := range []string{"Authorization", "Date", "x-acs-signature-method", "x-acs-signature-version", "x-acs-version"} {
		if r.Header.Get(name) == "" {
			return "", missingParameter(name)
		}
	}
	if r.Header.Get("x-acs-version") != ackAPIVersion {
		return "", newError(CodeInvalidVersion, "Specified parameter Version is not valid.")
	}
	if r.Header.Get("x-acs-signature-method") != "HMAC-SHA1" {
		return "", newError(CodeInvalidSignatureMethod, "Specified signature method is not supported.")
	}
	if r.Header.Get("x-acs-signature-version") != "1.0" {
		return "", newError(CodeInvalidSignatureVersion, "Specified signature version is not valid.")
	}
	sent, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		return "", newError(CodeInvalidTimestampFormat, "Specified time stamp or date value is not well formatted.")
	}
	if skew := now.Sub(sent); skew > maxClockSkew || skew < -maxClockSkew {
		return "", newError(CodeTimestampExpired, "Specified time stamp or date value is expired.")
	}
	accessKeyID, signature, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "acs "), ":")
	if !ok || !strings.HasPrefix(r.Header.Get("Authorization"), "acs ") {
		return "", newError(CodeIncompleteSignature, "The request signature does not conform to Aliyun standards.")
	}
	// The SDK signs the MD5 of the body it sends, empty for a GET.
	if md := r.Header.Get("Content-MD5"); md != "" && md != emptyBodyMD5 {
		return "", newError(CodeInvalidParameter, "Content-MD5 does not match the body.")
	}

	a.account.mu.Lock()
	credential, known := a.account.credentials[accessKeyID]
	a.account.mu.Unlock()
	if !known {
		return "", newError(CodeAccessKeyNotFound, "Specified access key is not found.")
	}
	if credential.SecurityToken != "" {
		token := r.Header.Get("x-acs-security-token")
		switch {
		case token == "":
			return "", newError(CodeMissingSecurityToken, "SecurityToken is mandatory for this access key.")
		case !hmac.Equal([]byte(token), []byte(credential.SecurityToken)):
			return "", newError(CodeSecurityTokenMismatch, "Specified SecurityToken mismatch with the AccessKey.")
		case !credential.Expiration.IsZero() && now.After(credential.Expiration):
			return "", newError(CodeSecurityTokenExpired, "Specified SecurityToken is expired.")
		}
	}
	stringToSign := roaStringToSign(r)
	if !hmac.Equal([]byte(signature), []byte(roaSign(stringToSign, credential.AccessKeySecret))) {
		return "", newError(CodeSignatureDoesNotMatch,
			"Specified signature is not matched with our calculation. server string to sign is:%s", stringToSign)
	}
	return accessKeyID, nil
}

// roaSign is base64(HMAC-SHA1) keyed with the secret itself: unlike RPC's, the ROA key has no "&"
// appended (signRoaRequest in sdk/auth/roa_signature_composer.go).
func roaSign(stringToSign, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// emptyBodyMD5 is base64(MD5("")), the Content-MD5 the SDK sends with a GET.
var emptyBodyMD5 = func() string { sum := md5.Sum(nil); return base64.StdEncoding.EncodeToString(sum[:]) }()

// roaStringToSign is buildRoaStringToSign of sdk/auth/roa_signature_composer.go, from the server's side.
func roaStringToSign(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	for _, name := range []string{"Accept", "Content-MD5", "Content-Type", "Date"} {
		if v := r.Header.Get(name); v != "" {
			b.WriteString(v + "\n")
		}
	}
	var acs []string
	for name := range r.Header {
		if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-acs-") {
			acs = append(acs, lower)
		}
	}
	sort.Strings(acs)
	for _, name := range acs {
		b.WriteString(name + ":" + r.Header.Get(name) + "\n")
	}
	b.WriteString(r.URL.Path)
	query := r.URL.Query()
	keys := make([]string, 0, len(query))
	for key := range query {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for i, key := range keys {
		if i == 0 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString(key)
		if v := query.Get(key); v != "" {
			b.WriteString("=" + v)
		}
	}
	return b.String()
}

// ackErrorBody is an error answer: ACK's own errors in its lowercase shape (code, message,
// requestId), which the SDK's ServerError does not parse, so that clients find ACK codes in its
// Message() (as the alicloud provider's IsExpectedErrors does, alicloud/errors.go); the gateway's
// errors in the common shape.
func ackErrorBody(failure *apiError, requestID string) any {
	if _, ok := ackCodes[failure.code]; ok {
		return struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"requestId"`
		}{failure.code, failure.message, requestID}
	}
	return errorBody{RequestID: requestID, HostID: ackHostID, Code: failure.code, Message: failure.message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + failure.code + "&product=CS&requestId=" + requestID}
}
