// Package alicred turns the provider's Alibaba Cloud identity settings into one credential chain,
// built from the official library (github.com/aliyun/credentials-go), that the ASM and ACK clients
// share. Nothing is contacted until the first credential is asked for.
package alicred

import (
	"errors"
	"fmt"
	"sync"

	sdkcredentials "github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/credentials-go/credentials/providers"
)

// Config is every credential setting, each already resolved from the provider block or its
// environment variable. Resolve picks the base credential in the order of the fields below (the
// order the provider's documentation gives), and puts AssumeRole on top of it.
type Config struct {
	AccessKey     string
	SecretKey     string
	SecurityToken string
	// OIDC exchanges an OIDC token (RRSA, a CI system's) for a RAM role's STS token.
	OIDC *OIDCRole
	// CredentialsURI is a URL answering temporary credentials as JSON.
	CredentialsURI string
	// ECSRoleName is the RAM role attached to the ECS instance, read from instance metadata.
	ECSRoleName string
	// Profile and SharedCredentialsFile select an aliyun CLI profile (~/.aliyun/config.json).
	Profile               string
	SharedCredentialsFile string
	AssumeRole            *AssumeRole
	// STSEndpoint overrides the STS host ("host[:port]", always HTTPS) for assume_role and OIDC.
	STSEndpoint string
	// MetadataProxy is an HTTP proxy that requests to the ECS metadata service go through. The
	// library has no endpoint setting for that service (100.100.100.200), only its HTTP options'
	// proxy; tests point it at a double on loopback.
	MetadataProxy string
}

// AssumeRole exchanges the base credential for a RAM role's STS token.
type AssumeRole struct {
	RoleARN           string
	SessionName       string
	SessionExpiration int
	Policy            string
	ExternalID        string
}

// OIDCRole is AssumeRoleWithOIDC's input. Token wins over TokenFile; the file is read again at
// every refresh, since RRSA and CI runners rotate it.
type OIDCRole struct {
	ProviderARN       string
	RoleARN           string
	Token             string
	TokenFile         string
	SessionName       string
	SessionExpiration int
	Policy            string
}

// defaultSessionName names the provider's STS sessions in ActionTrail unless the user names them.
const defaultSessionName = "terraform-provider-asm"

// Identity is a resolved credential chain.
type Identity struct {
	// Credentials is safe for concurrent use; temporary credentials are refreshed before they
	// expire. Its failures are *Error.
	Credentials sdkcredentials.CredentialsProvider
	// ProfileRegion is the region_id of the CLI profile used, the region when none is configured.
	ProfileRegion string
}

// Resolve builds the credential chain without contacting anything. Missing or contradictory
// settings are reported here, naming the attribute or environment variable that supplies them.
func (c Config) Resolve() (*Identity, error) {
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	if base.provider == nil {
		return nil, errors.New("no Alibaba Cloud credentials: set access_key and secret_key in the asm provider " +
			"block (or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET), assume_role_with_oidc, " +
			"credentials_uri, ecs_role_name, or a profile in ~/.aliyun/config.json; see the provider's documentation " +
			"for the order in which they are tried")
	}
	provider := base.provider
	if r := c.AssumeRole; r != nil {
		if provider, err = c.assumeRole(provider, r, "assume_role", base.stsRegion); err != nil {
			return nil, err
		}
	}
	return &Identity{Credentials: &chain{provider: provider}, ProfileRegion: base.region}, nil
}

// baseCredential is the credential assume_role starts from.
type baseCredential struct {
	provider providers.CredentialsProvider
	// region and stsRegion come from a CLI profile's region_id and sts_region.
	region, stsRegion string
}

func (c Config) base() (baseCredential, error) {
	switch {
	case c.AccessKey != "" || c.SecretKey != "":
		p, err := staticKeys(c.AccessKey, c.SecretKey, c.SecurityToken, "access_key", "secret_key")
		return baseCredential{provider: p}, err
	case c.OIDC != nil:
		p, err := c.oidc(c.OIDC, "assume_role_with_oidc", "")
		return baseCredential{provider: p}, err
	case c.CredentialsURI != "":
		p, err := credentialsURI(c.CredentialsURI)
		return baseCredential{provider: p}, err
	case c.ECSRoleName != "":
		p, err := c.ecsRole(c.ECSRoleName)
		return baseCredential{provider: p}, err
	}
	return c.profile()
}

// staticKeys is an access key pair, with an STS token when one is given. keyName and secretName
// are the settings that supply them, for the error.
func staticKeys(key, secret, token, keyName, secretName string) (providers.CredentialsProvider, error) {
	if key == "" || secret == "" {
		return nil, fmt.Errorf("an access key needs both its ID and its secret: set %s and %s "+
			"(or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)", keyName, secretName)
	}
	if token != "" {
		return providers.NewStaticSTSCredentialsProviderBuilder().WithAccessKeyId(key).WithAccessKeySecret(secret).
			WithSecurityToken(token).Build()
	}
	return providers.NewStaticAKCredentialsProviderBuilder().WithAccessKeyId(key).WithAccessKeySecret(secret).Build()
}

// assumeRole puts a RAM role on top of base; setting names the block the role comes from.
func (c Config) assumeRole(base providers.CredentialsProvider, r *AssumeRole, setting, stsRegion string) (providers.CredentialsProvider, error) {
	if r.RoleARN == "" {
		return nil, fmt.Errorf("%s: role_arn is empty; set it to the ARN of the RAM role to assume", setting)
	}
	session := r.SessionName
	if session == "" {
		session = defaultSessionName
	}
	p, err := providers.NewRAMRoleARNCredentialsProviderBuilder().WithCredentialsProvider(base).
		WithRoleArn(r.RoleARN).WithRoleSessionName(session).WithDurationSeconds(r.SessionExpiration).
		WithPolicy(r.Policy).WithExternalId(r.ExternalID).WithStsEndpoint(c.STSEndpoint).WithStsRegionId(stsRegion).Build()
	if err != nil {
		return nil, fmt.Errorf("%s (role %s): %w", setting, r.RoleARN, err)
	}
	return step(p, fmt.Sprintf("assuming RAM role %s (%s) with AssumeRole", r.RoleARN, setting), Role, r.RoleARN), nil
}

func (c Config) oidc(o *OIDCRole, setting, stsRegion string) (providers.CredentialsProvider, error) {
	switch {
	case o.RoleARN == "":
		return nil, fmt.Errorf("%s: role_arn is empty; set it (or ALIBABA_CLOUD_ROLE_ARN) to the RAM role to assume", setting)
	case o.ProviderARN == "":
		return nil, fmt.Errorf("%s: oidc_provider_arn is empty; set it (or ALIBABA_CLOUD_OIDC_PROVIDER_ARN) to the ARN "+
			"of the RAM OIDC identity provider that trusts the token's issuer", setting)
	case o.Token == "" && o.TokenFile == "":
		return nil, fmt.Errorf("%s: set oidc_token or oidc_token_file (or ALIBABA_CLOUD_OIDC_TOKEN_FILE)", setting)
	}
	session := o.SessionName
	if session == "" {
		session = defaultSessionName
	}
	p, err := providers.NewOIDCCredentialsProviderBuilder().WithOIDCProviderARN(o.ProviderARN).WithRoleArn(o.RoleARN).
		WithOIDCToken(o.Token).WithOIDCTokenFilePath(o.TokenFile).WithRoleSessionName(session).
		WithDurationSeconds(o.SessionExpiration).WithPolicy(o.Policy).WithSTSEndpoint(c.STSEndpoint).
		WithStsRegionId(stsRegion).Build()
	if err != nil {
		return nil, fmt.Errorf("%s (role %s): %w", setting, o.RoleARN, err)
	}
	what := fmt.Sprintf("assuming RAM role %s with an OIDC token (%s, identity provider %s", o.RoleARN, setting, o.ProviderARN)
	if o.Token == "" {
		what += ", token file " + o.TokenFile
	}
	return step(p, what+")", OIDC, o.RoleARN), nil
}

func credentialsURI(uri string) (providers.CredentialsProvider, error) {
	p, err := providers.NewURLCredentialsProviderBuilder().WithUrl(uri).Build()
	if err != nil {
		return nil, fmt.Errorf("credentials_uri %q: %w", uri, err)
	}
	return step(p, fmt.Sprintf("fetching credentials from credentials_uri %s", uri), URI, uri), nil
}

func (c Config) ecsRole(name string) (providers.CredentialsProvider, error) {
	b := providers.NewECSRAMRoleCredentialsProviderBuilder().WithRoleName(name)
	if c.MetadataProxy != "" {
		b = b.WithHttpOptions(&providers.HttpOptions{Proxy: c.MetadataProxy})
	}
	p, err := b.Build()
	if err != nil {
		// The only refusal is ALIBABA_CLOUD_ECS_METADATA_DISABLED=true.
		return nil, fmt.Errorf("ecs_role_name %q: %w; unset ALIBABA_CLOUD_ECS_METADATA_DISABLED to use the instance's RAM role", name, err)
	}
	return step(p, fmt.Sprintf("reading the credentials of ECS instance RAM role %s (ecs_role_name) from instance metadata", name),
		Metadata, name), nil
}

// chain serializes the library's providers, which keep their cached credentials in unguarded
// fields, and adapts them to the SDK's interface. A refresh holds the lock: concurrent calls wait
// for the one STS or metadata answer instead of each asking for their own.
type chain struct {
	mu       sync.Mutex
	provider providers.CredentialsProvider
}

func (c *chain) GetCredentials() (*sdkcredentials.Credentials, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, err := c.provider.GetCredentials()
	if err != nil {
		return nil, err
	}
	return &sdkcredentials.Credentials{AccessKeyId: cc.AccessKeyId, AccessKeySecret: cc.AccessKeySecret,
		SecurityToken: cc.SecurityToken, ProviderName: cc.ProviderName}, nil
}

func (c *chain) GetProviderName() string { return c.provider.GetProviderName() }
