package asm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// Kind is how a failed call should be treated. Classification happens only in classify, so every
// caller agrees on what "not found" means.
type Kind int

const (
	// Permanent errors will not go away by retrying.
	Permanent Kind = iota
	// NotFound means the service definitely answered that the mesh, or the cluster in the mesh, does not exist.
	NotFound
	// Retryable errors are throttling, 5xx answers and network failures.
	Retryable
)

func (k Kind) String() string {
	switch k {
	case NotFound:
		return "not found"
	case Retryable:
		return "retryable"
	}
	return "permanent"
}

// Documented error codes that mean the mesh (or the cluster in it) does not exist. Refusals of
// AddClusterIntoServiceMesh and RemoveClusterFromServiceMesh carry codes ASM does not document:
// the client decides from what DescribeClustersInServiceMesh shows afterwards, never from them.
const (
	CodeServiceMeshNotFound = "ServiceMesh.NotFound"
	// CodeNotFound is ASM's documented "Not found" (HTTP 404).
	CodeNotFound = "ERR404"
)

// notFoundCodes are matched exactly: a ".NotFound" suffix alone is not enough, since
// InvalidAccessKeyId.NotFound is a credentials problem, not a missing resource. 403 never means
// gone (the alicloud provider drops state on it; a missing permission must not lose state).
var notFoundCodes = map[string]bool{
	CodeServiceMeshNotFound: true,
	CodeNotFound:            true,
}

// Error is every error the client returns for a call: what was asked, what the service answered
// (the request ID above all, for support tickets), and what to do about it.
type Error struct {
	Action     string
	Kind       Kind
	Code       string
	HTTPStatus int
	RequestID  string
	Message    string
	// Hint explains the error in terms of the provider's settings, when there is something to say.
	Hint string
	// Attempts is how many times the call was sent.
	Attempts int
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ASM %s failed", e.Action)
	switch {
	case e.Code != "" && e.HTTPStatus != 0:
		fmt.Fprintf(&b, ": %s (HTTP %d)", e.Code, e.HTTPStatus)
	case e.Code != "":
		fmt.Fprintf(&b, ": %s", e.Code)
	case e.HTTPStatus != 0:
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n%s", e.Hint)
	}
	requestID := e.RequestID
	if requestID == "" {
		requestID = "none (no answer from the service)"
	}
	fmt.Fprintf(&b, "\n(request ID: %s", requestID)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "; %d attempts", e.Attempts)
	}
	b.WriteString(")")
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsNotFound reports whether err is a definite answer that the mesh or cluster does not exist.
// Throttling, 5xx and network errors never are.
func IsNotFound(err error) bool { return kindOf(err) == NotFound }

// IsRetryable reports whether err is transient (throttling, 5xx, network).
func IsRetryable(err error) bool { return kindOf(err) == Retryable }

// HasCode reports whether the service answered err with the given error code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// RequestID returns the request ID of the answer that caused err, or "".
func RequestID(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.RequestID
	}
	return ""
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Permanent
}

// newError describes a failed SDK call.
func newError(action string, err error) *Error {
	e := &Error{Action: action, Kind: classify(err), Err: err, Message: withoutQuery(err)}
	var server *sdkerrors.ServerError
	if errors.As(err, &server) {
		e.Code, e.HTTPStatus, e.RequestID = server.ErrorCode(), server.HttpStatus(), server.RequestId()
		e.Message = server.Message()
		if e.RequestID == "" {
			// A body that is not the gateway's JSON (a proxy's 502 page) still comes with the header.
			e.RequestID = http.Header(server.RespHeaders).Get("x-acs-request-id")
		}
		if e.Code == "" {
			// Not the gateway's JSON, so Message is the whole body, e.g. a proxy's HTML error page.
			e.Message = truncate(e.Message)
		}
	}
	e.Hint = hint(action, e.Code, e.HTTPStatus, err)
	if e.Code == sdkerrors.SignatureDostNotMatchErrorCode {
		// The rest is the server's string to sign: long, and the hint says what matters.
		e.Message, _, _ = strings.Cut(e.Message, sdkerrors.MessageContain)
		e.Message = strings.TrimSpace(e.Message)
	}
	return e
}

// classify is the one place that decides whether a call failed for good, because the thing is
// gone, or for now.
func classify(err error) Kind {
	var server *sdkerrors.ServerError
	if errors.As(err, &server) {
		code := server.ErrorCode()
		switch {
		// Transient first: a 5xx is never taken for not-found, whatever code it carries.
		case strings.HasPrefix(code, "Throttling"), code == "Rejected.Throttling", code == "ServiceUnavailable",
			server.HttpStatus() >= 500:
			return Retryable
		case permissionDenied(code, server.HttpStatus()):
			return Permanent
		case notFoundCodes[code]:
			return NotFound
		}
		return Permanent
	}
	var client *sdkerrors.ClientError
	if errors.As(err, &client) && client.ErrorCode() == sdkerrors.TimeoutErrorCode {
		return Retryable
	}
	if isTLSProblem(err) {
		return Permanent
	}
	// Everything http.Client.Do returns is a *url.Error, a net.Error: the request may not have
	// reached the service, or its answer was lost. A cancelled context ends the retries in retry.
	var netErr net.Error
	if errors.As(err, &netErr) {
		return Retryable
	}
	return Permanent
}

func isTLSProblem(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &record) ||
		// net/http's own words for a plain-HTTP server answering an HTTPS request.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// IsPermissionDenied reports whether the service refused a call because the caller's RAM identity
// may not make it.
func IsPermissionDenied(err error) bool {
	var e *Error
	return errors.As(err, &e) && permissionDenied(e.Code, e.HTTPStatus)
}

// permissionDenied: the gateway answers a missing RAM permission with HTTP 403 and Forbidden.RAM,
// Forbidden.*, NoPermission or StatusForbidden (the codes the alicloud provider meets).
func permissionDenied(code string, status int) bool {
	return status == http.StatusForbidden || code == "Forbidden" || strings.HasPrefix(code, "Forbidden.") ||
		strings.HasPrefix(code, "NoPermission") || code == "StatusForbidden"
}

// hint explains the errors whose codes alone do not tell a user what to change.
func hint(action, code string, status int, err error) string {
	switch {
	case code == sdkerrors.SignatureDostNotMatchErrorCode:
		return "The access key secret does not match the access key ID: check secret_key in the asm provider " +
			"block (or ALIBABA_CLOUD_ACCESS_KEY_SECRET / ALICLOUD_SECRET_KEY, or the profile's access_key_secret)."
	case code == "InvalidAccessKeyId.NotFound", code == "InvalidAccessKeyId.Inactive":
		return "Alibaba Cloud does not know this access key ID, or it is disabled: check access_key in the asm " +
			"provider block (or ALIBABA_CLOUD_ACCESS_KEY_ID / ALICLOUD_ACCESS_KEY, or the profile's access_key_id)."
	case strings.HasPrefix(code, "InvalidSecurityToken"), code == "MissingSecurityToken":
		return "The STS token does not go with the access key or has expired: check security_token in the asm " +
			"provider block (or ALIBABA_CLOUD_SECURITY_TOKEN / ALICLOUD_SECURITY_TOKEN) and request a fresh token."
	case code == "InvalidTimeStamp.Expired":
		return "The request's timestamp is more than 15 minutes away from Alibaba Cloud's clock: this machine's " +
			"clock is off (clock skew). Synchronize it (e.g. with NTP) and try again."
	case code == "StillInitializing":
		return "The mesh accepts changes only while its state is running: wait until it is, then apply again."
	case permissionDenied(code, status):
		// RAM actions are "servicemesh:<API name>", and AliyunASMFullAccess is ASM's system policy for
		// everything; changing a mesh's clusters needs ACK permissions too
		// (https://www.alibabacloud.com/help/en/asm/developer-reference/api-servicemesh-2020-01-11-ram,
		// https://www.alibabacloud.com/help/en/asm/sidecar/grant-permissions-to-ram-users-and-ram-roles).
		msg := fmt.Sprintf("The RAM user or role of the provider's credentials may not call %[1]s. Grant it "+
			"the RAM permission servicemesh:%[1]s (for example with a custom policy, or the system policy "+
			"AliyunASMFullAccess), then try again.", action)
		if action == "AddClusterIntoServiceMesh" || action == "RemoveClusterFromServiceMesh" {
			msg += " Adding or removing a cluster also needs permissions on the ACK cluster itself (ACK's RAM authorization)."
		}
		return msg
	case code == "" && isTLSProblem(err):
		return "The TLS handshake with the servicemesh endpoint failed. If endpoints.servicemesh points at a " +
			"plain-HTTP server, set protocol = \"HTTP\"; otherwise check the endpoint's certificate."
	}
	return ""
}

// withoutQuery is err's text without request URLs' queries, which carry the access key ID and any
// STS token.
func withoutQuery(err error) string {
	msg := err.Error()
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = ""
			msg = strings.ReplaceAll(msg, urlErr.URL, u.String())
		}
	}
	return msg
}

func truncate(s string) string {
	const n = 200
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
