package asm

import (
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

// Credentials resolves the configured identity (access key, STS token, RAM role, CLI profile) into a
// provider that is safe for concurrent use, for the other Alibaba Cloud APIs the provider calls as
// the same identity (ACK). Like NewClient, it contacts nothing.
func (cfg Config) Credentials() (credentials.CredentialsProvider, error) {
	credential, err := cfg.credential()
	if err != nil {
		return nil, err
	}
	creds, err := auth.ToCredentialsProvider(credential)
	if err != nil {
		return nil, fmt.Errorf("resolving Alibaba Cloud credentials: %w", err)
	}
	return &lockedCredentials{provider: creds}, nil
}

// Scheme is the protocol requests are sent with: HTTPS unless HTTP was asked for.
func (cfg Config) Scheme() (string, error) { return schemeOf(cfg.Protocol) }
