package alicred

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aliyun/credentials-go/credentials/providers"
)

// Source is the kind of exchange that obtains a credential.
type Source int

const (
	// Role is AssumeRole: a RAM role assumed with another credential.
	Role Source = iota
	// OIDC is AssumeRoleWithOIDC.
	OIDC
	// URI is a credentials URI.
	URI
	// Metadata is the ECS instance metadata service.
	Metadata
	// Profile is an aliyun CLI profile mode the library resolves itself (CloudSSO, OAuth, External).
	Profile
)

// Error is a failure to obtain credentials. It is never a missing permission on the service that
// was about to be called, and retrying the call does not help: the clients return it as it is.
type Error struct {
	// Doing says what was being done, naming the role, provider, file or URL and its setting.
	Doing string
	// Code, Message and RequestID are STS's answer, when it answered.
	Code      string
	Message   string
	RequestID string
	Hint      string
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "obtaining Alibaba Cloud credentials failed while %s", e.Doing)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request ID: %s)", e.RequestID)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n%s", e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// stepProvider gives a provider's failures the context of the step that failed.
type stepProvider struct {
	providers.CredentialsProvider
	doing   string
	source  Source
	subject string // the role ARN, URL or role name, for hints
}

func step(p providers.CredentialsProvider, doing string, source Source, subject string) providers.CredentialsProvider {
	return &stepProvider{CredentialsProvider: p, doing: doing, source: source, subject: subject}
}

func (s *stepProvider) GetCredentials() (*providers.Credentials, error) {
	cc, err := s.CredentialsProvider.GetCredentials()
	if err == nil {
		return cc, nil
	}
	// A step below (the base credential of assume_role) already said what it was doing.
	var inner *Error
	if errors.As(err, &inner) {
		return nil, err
	}
	e := &Error{Doing: s.doing, Message: err.Error(), Err: err}
	if s.source == Role || s.source == OIDC {
		parseSTSAnswer(e)
	}
	e.Hint = hint(s.source, s.subject, e.Code)
	return nil, e
}

// parseSTSAnswer reads STS's JSON error body out of the library's message: it reports a refusal
// as "refresh session token failed: <body>" (AssumeRole) or "get session token failed: <body>"
// (AssumeRoleWithOIDC) (credentials-go, credentials/providers/ram_role_arn.go and oidc.go).
func parseSTSAnswer(e *Error) {
	i := strings.IndexByte(e.Message, '{')
	if i < 0 {
		return
	}
	var body struct {
		RequestID string `json:"RequestId"`
		Code      string `json:"Code"`
		Message   string `json:"Message"`
	}
	if json.Unmarshal([]byte(e.Message[i:]), &body) != nil || body.Code == "" {
		return
	}
	e.Code, e.Message, e.RequestID = body.Code, body.Message, body.RequestID
}

// hint says what to change for the refusals STS documents for AssumeRole and AssumeRoleWithOIDC
// (https://help.aliyun.com/zh/ram/developer-reference/api-sts-2015-04-01-errorcodes).
func hint(source Source, subject, code string) string {
	switch {
	case code == "EntityNotExist.Role":
		return fmt.Sprintf("RAM role %s does not exist: check role_arn.", subject)
	case code == "EntityNotExist.OIDCProvider", code == "AuthenticationFail.NoPermission" && source == OIDC:
		return "The RAM OIDC identity provider is not registered, or the role's trust policy does not trust it: " +
			"check oidc_provider_arn and the trust policy of role " + subject + "."
	case strings.HasPrefix(code, "AuthenticationFail.OIDCToken"), code == "InvalidParameter.OIDCToken":
		return "STS refused the OIDC token (expired, wrong issuer or audience, or malformed): check that oidc_token_file " +
			"holds the current token (RRSA and CI systems rotate it) and that the identity provider's issuer and " +
			"client IDs match the token."
	case code == "NoPermission", code == "AuthenticationFail.NoPermission":
		return fmt.Sprintf("The base credential may not assume RAM role %s: the role's trust policy must allow the "+
			"base credential's account or RAM identity, and that identity needs the RAM permission sts:AssumeRole "+
			"on the role (for example the system policy AliyunSTSAssumeRoleAccess).", subject)
	case code == "InvalidAccessKeyId.NotFound", code == "InvalidAccessKeyId.Inactive", code == "SignatureDoesNotMatch":
		return "STS does not accept the base credential's access key: check access_key and secret_key (or the profile's)."
	case strings.HasPrefix(code, "InvalidSecurityToken"):
		return "The base credential's STS token was refused (expired or not matching its access key): request a fresh one."
	case code != "":
		return ""
	case source == Metadata:
		return fmt.Sprintf("ecs_role_name only works on an ECS instance (or ACK node) whose instance RAM role is %s: "+
			"check the role name (the metadata service lists the attached one under "+
			"/latest/meta-data/ram/security-credentials/) and that the instance can reach 100.100.100.200.", subject)
	case source == URI:
		return "The credentials URI must answer HTTP 200 with AccessKeyId, AccessKeySecret, SecurityToken and " +
			"Expiration: check credentials_uri (or ALIBABA_CLOUD_CREDENTIALS_URI) and the service behind it."
	case source == OIDC:
		return "Check that the OIDC token file exists and is readable, and that STS (endpoints.sts) can be reached."
	case source == Role:
		return "Check that STS (endpoints.sts, or sts.aliyuncs.com by default) can be reached."
	}
	return ""
}
