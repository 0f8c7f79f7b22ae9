package asmfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
	"time"
)

// Credential is an access key the fake accepts.
type Credential struct {
	AccessKeyID     string
	AccessKeySecret string
	// SecurityToken makes this an STS credential: every request must then carry exactly this token.
	SecurityToken string
	// Expiration is when an STS token stops being accepted; zero means never.
	Expiration time.Time
}

const (
	apiVersion      = "2020-01-11"
	timestampLayout = "2006-01-02T15:04:05Z"
	// maxClockSkew is how far a request's Timestamp may be from the server's clock, as on the real gateway;
	// nonces are remembered for as long, since an older request is refused by its timestamp anyway.
	maxClockSkew = 15 * time.Minute
)

// commonParams are the parameters every signed RPC request carries, in the order they are checked.
var commonParams = []string{"Action", "Version", "AccessKeyId", "Signature", "SignatureMethod",
	"SignatureVersion", "SignatureNonce", "Timestamp"}

// checkProtocol validates what can be judged without the account's state.
func checkProtocol(p map[string]string) *apiError {
	for _, name := range commonParams {
		if p[name] == "" {
			return missingParameter(name)
		}
	}
	if p["Version"] != apiVersion {
		return newError(CodeInvalidVersion, "Specified parameter Version is not valid.")
	}
	if _, ok := actions[p["Action"]]; !ok {
		return newError(CodeInvalidAction, "Specified api is not found, please check your url and method.")
	}
	// Only JSON is served: the SDK asks for JSON, and answering XML would add a format nothing here reads.
	if format := p["Format"]; format != "" && !strings.EqualFold(format, "JSON") {
		return newError(CodeInvalidFormat, "Specified parameter Format %q is not valid; this server answers JSON.", format)
	}
	if p["SignatureMethod"] != "HMAC-SHA1" {
		return newError(CodeInvalidSignatureMethod, "Specified signature method is not supported.")
	}
	if p["SignatureVersion"] != "1.0" {
		return newError(CodeInvalidSignatureVersion, "Specified signature version is not valid.")
	}
	return nil
}

// authenticate checks timestamp, access key, STS token, signature and nonce, and consumes the nonce.
func (s *Server) authenticate(method string, p map[string]string, now time.Time) *apiError {
	sent, err := time.Parse(timestampLayout, p["Timestamp"])
	if err != nil {
		return newError(CodeInvalidTimestampFormat, "Specified time stamp or date value is not well formatted.")
	}
	if skew := now.Sub(sent); skew > maxClockSkew || skew < -maxClockSkew {
		return newError(CodeTimestampExpired, "Specified time stamp or date value is expired.")
	}

	s.mu.Lock()
	credential, known := s.credentials[p["AccessKeyId"]]
	s.mu.Unlock()
	if !known {
		return newError(CodeAccessKeyNotFound, "Specified access key is not found.")
	}
	if credential.SecurityToken != "" {
		token := p["SecurityToken"]
		switch {
		case token == "":
			return newError(CodeMissingSecurityToken, "SecurityToken is mandatory for this access key.")
		case !hmac.Equal([]byte(token), []byte(credential.SecurityToken)):
			return newError(CodeSecurityTokenMismatch, "Specified SecurityToken mismatch with the AccessKey.")
		case !credential.Expiration.IsZero() && now.After(credential.Expiration):
			return newError(CodeSecurityTokenExpired, "Specified SecurityToken is expired.")
		}
	}

	stringToSign := stringToSign(method, p)
	if !hmac.Equal([]byte(p["Signature"]), []byte(sign(stringToSign, credential.AccessKeySecret))) {
		// The SDK compares the text after "server string to sign is:" with its own to tell a wrong
		// secret from a signing bug, so nothing may follow the string to sign.
		return newError(CodeSignatureDoesNotMatch,
			"Specified signature is not matched with our calculation. server string to sign is:%s", stringToSign)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for nonce, seen := range s.nonces {
		if now.Sub(seen) > maxClockSkew {
			delete(s.nonces, nonce)
		}
	}
	if _, used := s.nonces[p["SignatureNonce"]]; used {
		return newError(CodeSignatureNonceUsed, "Specified signature nonce was used already.")
	}
	s.nonces[p["SignatureNonce"]] = now
	return nil
}

// stringToSign is the SDK's RPC string to sign (sdk/auth/rpc_signature_composer.go): every parameter but
// Signature, sorted and percent-encoded, the whole encoded again and prefixed with the method and "/".
func stringToSign(method string, p map[string]string) string {
	values := url.Values{}
	for key, value := range p {
		if key != "Signature" {
			values.Set(key, value)
		}
	}
	canonical := values.Encode()
	canonical = strings.ReplaceAll(canonical, "+", "%20")
	canonical = strings.ReplaceAll(canonical, "*", "%2A")
	canonical = strings.ReplaceAll(canonical, "%7E", "~")
	return method + "&%2F&" + url.QueryEscape(canonical)
}

func sign(stringToSign, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
