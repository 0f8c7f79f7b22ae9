package asmfake

import (
	"encoding/hex"
	"fmt"
	"net/http"
)

// Error codes the fake answers with. The gateway codes (signature, access key, throttling,
// permission …) are the ones in Alibaba Cloud's public error centre; the service codes are those ASM
// documents (ServiceMesh.NotFound, StillInitializing, ERR404). Where ASM documents no code for a
// refusal, the fake answers with one of its own making that changes with every Server: see
// Server.UndocumentedCode.
const (
	CodeMissingParameter        = "MissingParameter"
	CodeInvalidParameter        = "InvalidParameter"
	CodeInvalidFormat           = "InvalidParameter.Format"
	CodeInvalidVersion          = "InvalidVersion"
	CodeInvalidAction           = "InvalidAction.NotFound"
	CodeInvalidSignatureMethod  = "InvalidSignatureMethod"
	CodeInvalidSignatureVersion = "InvalidSignatureVersion"
	CodeInvalidTimestampFormat  = "InvalidTimeStamp.Format"
	CodeTimestampExpired        = "InvalidTimeStamp.Expired"
	CodeAccessKeyNotFound       = "InvalidAccessKeyId.NotFound"
	CodeMissingSecurityToken    = "MissingSecurityToken"
	CodeSecurityTokenMismatch   = "InvalidSecurityToken.MismatchWithAccessKey"
	CodeSecurityTokenExpired    = "InvalidSecurityToken.Expired"
	CodeSignatureDoesNotMatch   = "SignatureDoesNotMatch"
	CodeSignatureNonceUsed      = "SignatureNonceUsed"
	// CodeForbiddenRAM is the gateway's answer (HTTP 403) when the caller's RAM policy does not allow
	// the action; the error centre lists it among the common codes, with NoPermission.
	CodeForbiddenRAM = "Forbidden.RAM"

	CodeThrottling         = "Throttling"
	CodeThrottlingUser     = "Throttling.User"
	CodeThrottlingAPI      = "Throttling.Api"
	CodeRejectedThrottling = "Rejected.Throttling"
	CodeServiceUnavailable = "ServiceUnavailable"
	CodeInternalError      = "InternalError"

	CodeServiceMeshNotFound = "ServiceMesh.NotFound"
	// CodeStillInitializing refuses changes to a mesh in state "initial" (the alicloud provider
	// retries it on delete: aliyun/terraform-provider-alicloud,
	// alicloud/resource_alicloud_service_mesh_service_mesh.go).
	CodeStillInitializing = "StillInitializing"
	// CodeNotFound is ASM's documented "Not found" (HTTP 404; ASM API reference, see
	// shared/reference/asm-openapi.md). The fake answers it for a cluster the account does not own
	// (AddClusterIntoServiceMesh) and for one that is not in the mesh (RemoveClusterFromServiceMesh).
	CodeNotFound = "ERR404"
)

// Refusal names a refusal whose code ASM does not document; Server.UndocumentedCode gives the code.
type Refusal string

// Refusals the real service makes without a documented code (shared/reference/asm-openapi.md, "How
// the real service behaves around cluster attach/detach": AddClusterIntoServiceMesh documents no
// error codes, nor does RemoveClusterFromServiceMesh).
const (
	// RefusalClusterInMesh refuses to add a cluster that is already in this or another mesh (an ACK
	// cluster belongs to at most one ASM instance), as when an add whose answer was lost is repeated.
	RefusalClusterInMesh Refusal = "cluster already in a mesh"
	// RefusalMeshBusy refuses to change a mesh that is not running: updating while a cluster joins or
	// leaves, upgrading, or in a failed state.
	RefusalMeshBusy Refusal = "mesh not running"
	// RefusalVpcMismatch refuses a cluster outside the mesh's VPC (ASM documents "a different VPC
	// without CEN" as a reason a cluster cannot join).
	RefusalVpcMismatch Refusal = "cluster in another VPC"
)

// undocumentedCodes makes one code per refusal for a new Server: "Undocumented" and random hex
// digits, so that no client can have matched on it and every client has to decide from what the
// service shows instead.
func undocumentedCodes() map[Refusal]string {
	codes := map[Refusal]string{}
	for _, r := range []Refusal{RefusalClusterInMesh, RefusalMeshBusy, RefusalVpcMismatch} {
		codes[r] = "Undocumented." + hex.EncodeToString(randomBytes(4))
	}
	return codes
}

// UndocumentedCode is the code this server answers a refusal with, for tests that check an error
// carries the service's words.
func (s *Server) UndocumentedCode(r Refusal) string { return s.undocumented[r] }

// refuse answers a refusal with this server's code for it (HTTP 400, like most refusals).
func (s *Server) refuse(r Refusal, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: s.undocumented[r], message: fmt.Sprintf(format, args...)}
}

// errorStatus is the HTTP status of each code; codes not listed answer 400, as most gateway codes do.
var errorStatus = map[string]int{
	CodeInvalidAction:       http.StatusNotFound,
	CodeAccessKeyNotFound:   http.StatusNotFound,
	CodeServiceMeshNotFound: http.StatusNotFound,
	CodeNotFound:            http.StatusNotFound,
	CodeForbiddenRAM:        http.StatusForbidden,
	CodeServiceUnavailable:  http.StatusServiceUnavailable,
	CodeInternalError:       http.StatusInternalServerError,
}

// faultMessages are the gateway's wording for the codes a test is likely to inject.
var faultMessages = map[string]string{
	CodeThrottling:         "Request was denied due to request throttling.",
	CodeThrottlingUser:     "Request was denied due to user flow control.",
	CodeThrottlingAPI:      "Request was denied due to api flow control.",
	CodeRejectedThrottling: "Request was denied due to flow control.",
	CodeServiceUnavailable: "The request has failed due to a temporary failure of the server.",
	CodeInternalError:      "The request processing has failed due to some unknown error, exception or failure.",
	CodeForbiddenRAM:       "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
}

// apiError is a refusal, answered as the gateway's JSON error body.
type apiError struct {
	status  int
	code    string
	message string
}

func newError(code, format string, args ...any) *apiError {
	return &apiError{status: statusOf(code), code: code, message: fmt.Sprintf(format, args...)}
}

func statusOf(code string) int {
	if status, ok := errorStatus[code]; ok {
		return status
	}
	return http.StatusBadRequest
}

func missingParameter(name string) *apiError {
	return newError(CodeMissingParameter,
		"The input parameter %q that is mandatory for processing this request is not supplied.", name)
}
