// Package asm is a typed client for the Alibaba Cloud Service Mesh (ASM) OpenAPI.
package asm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
)

// Client wraps the servicemesh SDK client. It is safe for concurrent use.
type Client struct {
	sdk        *servicemesh.Client
	maxRetries int
}

// NewClient builds a client without contacting the service. Missing settings are reported here,
// naming the provider attribute or environment variable that supplies them.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, errors.New("no Alibaba Cloud region: set region in the asm provider block " +
			"or ALIBABA_CLOUD_REGION / ALICLOUD_REGION")
	}
	credential, err := cfg.credential()
	if err != nil {
		return nil, err
	}
	scheme, err := schemeOf(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	// The SDK's own retries are off: we retry throttling and 5xx ourselves, with backoff and logging.
	client, err := servicemesh.NewClientWithOptions(cfg.Region, sdk.NewConfig().WithScheme(scheme).WithAutoRetry(false), credential)
	if err != nil {
		return nil, fmt.Errorf("creating ASM client: %w", err)
	}
	if cfg.Endpoint != "" {
		client.Domain = cfg.Endpoint
	}
	return &Client{sdk: client, maxRetries: cfg.MaxRetries}, nil
}

// Scheme reports the protocol requests are sent with.
func (c *Client) Scheme() string { return c.sdk.GetConfig().Scheme }

func schemeOf(protocol string) (string, error) {
	switch strings.ToUpper(protocol) {
	case "", "HTTPS":
		return "HTTPS", nil
	case "HTTP":
		return "HTTP", nil
	}
	return "", fmt.Errorf("protocol %q is not supported: use \"HTTPS\" (the default) or \"HTTP\"", protocol)
}

func (cfg Config) credential() (auth.Credential, error) {
	ak, sk, token := cfg.AccessKey, cfg.SecretKey, cfg.SecurityToken
	if ak == "" && sk == "" {
		p, err := loadProfile(cfg.SharedCredentialsFile, cfg.Profile)
		if err != nil {
			return nil, err
		}
		ak, sk, token = p.AccessKeyID, p.AccessKeySecret, p.StsToken
		if cfg.AssumeRole == nil && p.RAMRoleARN != "" {
			cfg.AssumeRole = &AssumeRole{RoleARN: p.RAMRoleARN, SessionName: p.RAMSessionName,
				SessionExpiration: p.ExpiredSeconds, Policy: p.Policy, ExternalID: p.ExternalID}
		}
	}
	if ak == "" || sk == "" {
		return nil, errors.New("no Alibaba Cloud credentials: set access_key and secret_key in the asm provider " +
			"block, ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (or ALICLOUD_ACCESS_KEY and " +
			"ALICLOUD_SECRET_KEY), or a profile in ~/.aliyun/config.json")
	}
	if r := cfg.AssumeRole; r != nil {
		if token != "" {
			return nil, errors.New("assume_role needs an access key pair as its base credential, not an STS token (security_token)")
		}
		session := r.SessionName
		if session == "" {
			session = "terraform-provider-asm"
		}
		return credentials.NewRamRoleArnWithPolicyAndExternalIdCredential(ak, sk, r.RoleARN, session, r.Policy, r.ExternalID, r.SessionExpiration), nil
	}
	if token != "" {
		return credentials.NewStsTokenCredential(ak, sk, token), nil
	}
	return credentials.NewAccessKeyCredential(ak, sk), nil
}

// cliProfile is one profile of the aliyun CLI's config.json.
type cliProfile struct {
	Name            string `json:"name"`
	Mode            string `json:"mode"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	StsToken        string `json:"sts_token"`
	RAMRoleARN      string `json:"ram_role_arn"`
	RAMSessionName  string `json:"ram_session_name"`
	ExpiredSeconds  int    `json:"expired_seconds"`
	Policy          string `json:"policy"`
	ExternalID      string `json:"external_id"`
}

// loadProfile reads the named (or current) aliyun CLI profile. A missing default file is not an
// error: it only means no profile credentials are available.
func loadProfile(path, name string) (cliProfile, error) {
	explicit := path != ""
	if !explicit {
		home, err := os.UserHomeDir()
		if err != nil {
			return cliProfile{}, nil
		}
		path = filepath.Join(home, ".aliyun", "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && name == "" && errors.Is(err, os.ErrNotExist) {
			return cliProfile{}, nil
		}
		return cliProfile{}, fmt.Errorf("reading Alibaba Cloud profile file %q (shared_credentials_file): %w", path, err)
	}
	var conf struct {
		Current  string       `json:"current"`
		Profiles []cliProfile `json:"profiles"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return cliProfile{}, fmt.Errorf("parsing Alibaba Cloud profile file %q: %w", path, err)
	}
	if name == "" {
		name = conf.Current
	}
	for _, p := range conf.Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return cliProfile{}, fmt.Errorf("profile %q (profile / ALIBABA_CLOUD_PROFILE) not found in %q", name, path)
}
