package asm

import "github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

// Config is everything needed to reach the ASM OpenAPI. The provider fills it from its
// configuration block and the environment; nothing here is contacted until the first call.
type Config struct {
	Region string
	// Credentials is the provider's credential chain (see package alicred), shared with ACK.
	Credentials credentials.CredentialsProvider
	// Endpoint overrides the servicemesh host, as "host[:port]".
	Endpoint string
	// Protocol is "HTTPS" unless the user explicitly asked for "HTTP"; the SDK's own default is HTTP.
	Protocol   string
	MaxRetries int
}

// Scheme is the protocol requests are sent with: HTTPS unless HTTP was asked for.
func (cfg Config) Scheme() (string, error) { return schemeOf(cfg.Protocol) }
