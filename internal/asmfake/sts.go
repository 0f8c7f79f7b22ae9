package asmfake

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// STS serves the two STS 2015-04-01 actions credentials-go calls, AssumeRole (signed with an access
// key of the account, STS tokens included) and AssumeRoleWithOIDC (anonymous), over HTTPS on
// loopback: the library always speaks HTTPS to STS. Calls go through the account's fault queue and
// recorder under their action names. Error codes, statuses and messages are those of STS's error
// code list (https://help.aliyun.com/zh/ram/developer-reference/api-sts-2015-04-01-errorcodes); the
// answer shapes are the API reference's, as credentials-go reads them
// (credentials/providers/ram_role_arn.go, oidc.go).
type STS struct {
	loopback
	issuer

	mu     sync.Mutex
	roles  map[string]STSRole
	tokens map[string]time.Time // OIDC token -> expiry
}

// STSRole is a RAM role STS lets callers assume.
type STSRole struct {
	ARN string
	// Denied refuses every AssumeRole of the role with NoPermission, as when its trust policy does
	// not name the caller or the caller lacks sts:AssumeRole.
	Denied bool
	// OIDCProviderARN is the identity provider the role trusts for AssumeRoleWithOIDC; empty
	// refuses OIDC.
	OIDCProviderARN string
	// CredentialLifetime, when set, is how long issued credentials live, whatever DurationSeconds
	// asks: a test sees a credential reach its renewal margin within seconds. The answer's
	// Expiration is always the credential's real one.
	CredentialLifetime time.Duration
}

// STS action names, for faults and the recorder.
const (
	ActionAssumeRole         = "AssumeRole"
	ActionAssumeRoleWithOIDC = "AssumeRoleWithOIDC"
)

const stsAPIVersion = "2015-04-01"

// NewSTS returns an STS endpoint for account's access keys, with no roles.
func NewSTS(account *Server) *STS {
	return &STS{issuer: issuer{account: account}, roles: map[string]STSRole{}, tokens: map[string]time.Time{}}
}

// Start serves STS over HTTPS on 127.0.0.1 at a free port, with a certificate this process trusts.
func (s *STS) Start() error { return s.start(s, true) }

// AddRole makes a role assumable, replacing any with the same ARN.
func (s *STS) AddRole(r STSRole) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[r.ARN] = r
}

// IssueOIDCToken mints an OIDC token (a JWT's three dot-separated parts) that AssumeRoleWithOIDC
// accepts until expiry, as an identity provider the role trusts would.
func (s *STS) IssueOIDCToken(expiry time.Time) string {
	token := "eyJhbGciOiJSUzI1NiJ9." + hexString(24) + "." + hexString(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = expiry
	return token
}

func hexString(n int) string { return hex.EncodeToString(randomBytes(n)) }

// assumeRoleAnswer is AssumeRole's and AssumeRoleWithOIDC's body.
type assumeRoleAnswer struct {
	RequestID       string          `json:"RequestId"`
	AssumedRoleUser assumedRoleUser `json:"AssumedRoleUser"`
	Credentials     wireCredentials `json:"Credentials"`
}

type assumedRoleUser struct {
	Arn           string `json:"Arn"`
	AssumedRoleID string `json:"AssumedRoleId"`
}

func (s *STS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	requestID := newRequestID()
	params, failure := readParams(r)
	var answer any
	if failure == nil {
		answer, failure = s.serve(r, params, requestID, received)
	}
	status, code := http.StatusOK, ""
	if failure != nil {
		status, code = failure.status, failure.code
		answer = errorBody{RequestID: requestID, HostID: "sts.aliyuncs.com", Code: failure.code, Message: failure.message,
			Recommend: "https://api.aliyun.com/troubleshoot?q=" + failure.code + "&product=Sts&requestId=" + requestID}
	}
	s.account.record(Request{Action: params["Action"], Method: r.Method, Params: params, Time: received,
		Status: status, Code: code})
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

func (s *STS) serve(r *http.Request, p map[string]string, requestID string, now time.Time) (any, *apiError) {
	if r.Method != http.MethodPost {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidHttpMethod", message: "The HTTP method is not allowed."}
	}
	if p["Version"] != stsAPIVersion {
		return nil, newError(CodeInvalidVersion, "Specified parameter Version is not valid.")
	}
	action := p["Action"]
	switch action {
	case ActionAssumeRole:
		for _, name := range commonParams {
			if name != "Action" && name != "Version" && p[name] == "" {
				return nil, missingParameter(name)
			}
		}
		if failure := s.account.authenticate(r.Method, p, now); failure != nil {
			return nil, failure
		}
	case ActionAssumeRoleWithOIDC:
		// Anonymous: the OIDC token is the caller's proof.
	default:
		return nil, newError(CodeInvalidAction, "Specified api is not found, please check your url and method.")
	}
	for _, name := range []string{"RoleArn", "RoleSessionName"} {
		if p[name] == "" {
			return nil, missingParameter(name)
		}
	}
	if _, failure := s.account.applyFault(r.Context(), action); failure != nil {
		return nil, failure
	}
	s.mu.Lock()
	role, known := s.roles[p["RoleArn"]]
	s.mu.Unlock()
	if !known {
		return nil, &apiError{status: http.StatusNotFound, code: "EntityNotExist.Role",
			message: "The specified Role not exists: " + p["RoleArn"]}
	}
	lifetime := role.CredentialLifetime
	if lifetime == 0 {
		seconds, err := strconv.Atoi(p["DurationSeconds"])
		if err != nil || seconds < 900 || seconds > 43200 {
			return nil, newError(CodeInvalidParameter+".DurationSeconds",
				"The parameter DurationSeconds is wrong: it must be between 900 and the role's maximum session duration.")
		}
		lifetime = time.Duration(seconds) * time.Second
	}
	if action == ActionAssumeRole && role.Denied {
		return nil, &apiError{status: http.StatusForbidden, code: "NoPermission",
			message: "You are not authorized to do this action. You should be authorized by RAM."}
	}
	if action == ActionAssumeRoleWithOIDC {
		if failure := s.checkOIDC(role, p, now); failure != nil {
			return nil, failure
		}
	}
	issued := s.issue(lifetime, now)
	return assumeRoleAnswer{RequestID: requestID,
		AssumedRoleUser: assumedRoleUser{Arn: strings.Replace(role.ARN, ":role/", ":assumed-role/", 1) + "/" + p["RoleSessionName"],
			AssumedRoleID: "3" + hexString(8) + ":" + p["RoleSessionName"]},
		Credentials: wireCredentialsOf(issued)}, nil
}

// checkOIDC judges AssumeRoleWithOIDC's provider and token with STS's documented codes.
func (s *STS) checkOIDC(role STSRole, p map[string]string, now time.Time) *apiError {
	unauthorized := func(code, message string) *apiError {
		return &apiError{status: http.StatusUnauthorized, code: code, message: message}
	}
	if p["OIDCProviderArn"] == "" {
		return missingParameter("OIDCProviderArn")
	}
	if role.OIDCProviderARN == "" || p["OIDCProviderArn"] != role.OIDCProviderARN {
		return unauthorized("AuthenticationFail.NoPermission", "No such OIDC Provider registered.")
	}
	token := strings.TrimSpace(p["OIDCToken"])
	switch {
	case token == "":
		return unauthorized("AuthenticationFail.OIDCToken.Invalid", "The OIDCToken can not empty.")
	case strings.Count(token, ".") != 2:
		return unauthorized("AuthenticationFail.OIDCToken.Invalid",
			"The number of Jwt field should be divided into 3 parts with '.' .")
	}
	s.mu.Lock()
	expiry, known := s.tokens[token]
	s.mu.Unlock()
	switch {
	case !known:
		return unauthorized("AuthenticationFail.OIDCToken.InvalidSignature", "OIDC token validate failed: invalid signature.")
	case now.After(expiry):
		return unauthorized("AuthenticationFail.OIDCToken.Expired", "This JsonWebToken is expired.")
	}
	return nil
}
