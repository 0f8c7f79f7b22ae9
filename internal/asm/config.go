package asm

// Config is everything needed to reach the ASM OpenAPI. The provider fills it from its
// configuration block and the environment; nothing here is contacted until the first call.
type Config struct {
	Region        string
	AccessKey     string
	SecretKey     string
	SecurityToken string
	// Profile and SharedCredentialsFile select an aliyun CLI profile (~/.aliyun/config.json)
	// when no access key is given.
	Profile               string
	SharedCredentialsFile string
	AssumeRole            *AssumeRole
	// Endpoint overrides the servicemesh host, as "host[:port]".
	Endpoint string
	// Protocol is "HTTPS" unless the user explicitly asked for "HTTP"; the SDK's own default is HTTP.
	Protocol   string
	MaxRetries int
}

// AssumeRole exchanges the base credentials for a RAM role's STS token.
type AssumeRole struct {
	RoleARN           string
	SessionName       string
	SessionExpiration int
	Policy            string
	ExternalID        string
}
