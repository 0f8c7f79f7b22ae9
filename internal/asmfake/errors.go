package asmfake

import (
	"fmt"
	"net/http"
)

// Error codes the fake answers with. The gateway codes (signature, access key, throttling …) are the
// ones in Alibaba Cloud's public error centre; the service codes are ASM's own where they are known
// (ServiceMesh.NotFound, StillInitializing) and follow ASM's naming where they had to be chosen.
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

	CodeThrottling         = "Throttling"
	CodeThrottlingUser     = "Throttling.User"
	CodeThrottlingAPI      = "Throttling.Api"
	CodeRejectedThrottling = "Rejected.Throttling"
	CodeServiceUnavailable = "ServiceUnavailable"
	CodeInternalError      = "InternalError"

	CodeServiceMeshNotFound = "ServiceMesh.NotFound"
	// CodeStillInitializing refuses changes to a mesh in state "initial" (the alicloud provider retries it).
	CodeStillInitializing = "StillInitializing"
	// CodeMeshNotRunning refuses changes to a mesh that is upgrading or whose upgrade failed;
	// named after the InvalidActiveState.* family ASM uses for resources in the wrong state.
	CodeMeshNotRunning = "InvalidActiveState.ServiceMesh"
	// CodeClusterNotFound answers a cluster ID the account does not own (AddClusterIntoServiceMesh)
	// or that is not in the mesh (RemoveClusterFromServiceMesh), after the gateway's
	// Invalid<Parameter>.NotFound convention, so a provider can treat it as "already gone".
	CodeClusterNotFound = "InvalidClusterId.NotFound"
	// CodeClusterAlreadyAdded refuses a cluster that is already in this or another mesh: an ACK cluster
	// belongs to at most one ASM instance. ErrorPermitted.* is the family of ASM's own refusals
	// (ErrorPermitted.ClustersNotEmpty).
	CodeClusterAlreadyAdded = "ErrorPermitted.ClusterAlreadyAdded"
	// CodeVpcNotMatch refuses a cluster outside the mesh's VPC.
	CodeVpcNotMatch = "ErrorPermitted.VpcNotMatch"
	// CodeAlreadyLatestVersion refuses UpgradeMeshVersion when DescribeUpgradeVersion offers nothing newer.
	CodeAlreadyLatestVersion = "ErrorPermitted.AlreadyLatestVersion"
)

// errorStatus is the HTTP status of each code; codes not listed answer 400, as most gateway codes do.
var errorStatus = map[string]int{
	CodeInvalidAction:       http.StatusNotFound,
	CodeAccessKeyNotFound:   http.StatusNotFound,
	CodeServiceMeshNotFound: http.StatusNotFound,
	CodeClusterNotFound:     http.StatusNotFound,
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
