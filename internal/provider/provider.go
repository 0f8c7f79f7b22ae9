// Package provider implements the asm Terraform provider: its configuration, resources and data sources.
package provider

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/alicred"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/asm"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

var (
	_ provider.Provider                     = &asmProvider{}
	_ provider.ProviderWithConfigValidators = &asmProvider{}
)

const (
	defaultNamespace    = "modelmesh-serving"
	defaultFieldManager = "terraform-provider-asm"
)

// New returns the provider factory for the given build version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &asmProvider{version: version} }
}

type asmProvider struct {
	version string
	// metadataProxy routes ECS metadata requests through an HTTP proxy: set only by tests, which
	// serve instance metadata from a double on loopback (alicred.Config.MetadataProxy).
	metadataProxy string
	// What Configure gave the resources and whether it deferred them, for planfast to configure
	// them as the framework does.
	data     *providerData
	deferred bool
}

// Configured implements planfast.Provider.
func (p *asmProvider) Configured() (any, bool) { return p.data, p.deferred }

type providerModel struct {
	Region                types.String     `tfsdk:"region"`
	AccessKey             types.String     `tfsdk:"access_key"`
	SecretKey             types.String     `tfsdk:"secret_key"`
	SecurityToken         types.String     `tfsdk:"security_token"`
	Profile               types.String     `tfsdk:"profile"`
	SharedCredentialsFile types.String     `tfsdk:"shared_credentials_file"`
	ECSRoleName           types.String     `tfsdk:"ecs_role_name"`
	CredentialsURI        types.String     `tfsdk:"credentials_uri"`
	Protocol              types.String     `tfsdk:"protocol"`
	MaxRetries            types.Int64      `tfsdk:"max_retries"`
	AssumeRole            *assumeRoleModel `tfsdk:"assume_role"`
	AssumeRoleWithOIDC    *oidcRoleModel   `tfsdk:"assume_role_with_oidc"`
	Endpoints             *endpointsModel  `tfsdk:"endpoints"`
	Kubernetes            *kubernetesModel `tfsdk:"kubernetes"`
}

type assumeRoleModel struct {
	RoleARN           types.String `tfsdk:"role_arn"`
	SessionName       types.String `tfsdk:"session_name"`
	SessionExpiration types.Int64  `tfsdk:"session_expiration"`
	Policy            types.String `tfsdk:"policy"`
	ExternalID        types.String `tfsdk:"external_id"`
}

type oidcRoleModel struct {
	OIDCProviderARN   types.String `tfsdk:"oidc_provider_arn"`
	RoleARN           types.String `tfsdk:"role_arn"`
	OIDCToken         types.String `tfsdk:"oidc_token"`
	OIDCTokenFile     types.String `tfsdk:"oidc_token_file"`
	SessionName       types.String `tfsdk:"session_name"`
	SessionExpiration types.Int64  `tfsdk:"session_expiration"`
	Policy            types.String `tfsdk:"policy"`
}

type endpointsModel struct {
	Servicemesh types.String `tfsdk:"servicemesh"`
	CS          types.String `tfsdk:"cs"`
	STS         types.String `tfsdk:"sts"`
}

func (p *asmProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "asm"
	resp.Version = p.version
}

func (p *asmProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	optional := func(desc string, validators ...validator.String) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Description: desc, Validators: validators}
	}
	sensitive := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Optional: true, Sensitive: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "Manages Alibaba Cloud Service Mesh (ASM) cluster attachments and KServe ModelMesh objects " +
			"(serving runtimes, inference services, model storage) on the mesh's data-plane cluster. " +
			"No endpoint is contacted while configuring: validate and create-only plans work offline.",
		Attributes: map[string]schema.Attribute{
			"region": optional("Alibaba Cloud region of the ASM instance, e.g. `cn-hangzhou`. "+
				"Falls back to `ALIBABA_CLOUD_REGION`, then `ALICLOUD_REGION`, then the `region_id` of the aliyun CLI "+
				"profile the credentials come from.", stringvalidator.LengthAtLeast(1)),
			"access_key": optional("Access key ID. Falls back to `ALIBABA_CLOUD_ACCESS_KEY_ID`, then `ALICLOUD_ACCESS_KEY`. " +
				"An access key is the first credential tried (see Authentication)."),
			"secret_key": sensitive("Access key secret. Falls back to `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, then `ALICLOUD_SECRET_KEY`."),
			"security_token": sensitive("STS security token for temporary credentials. Falls back to " +
				"`ALIBABA_CLOUD_SECURITY_TOKEN`, then `ALICLOUD_SECURITY_TOKEN`."),
			"profile": optional("Profile of the aliyun CLI configuration to take credentials (and the region) from when no " +
				"other credential is set. Every mode the CLI writes is accepted: AK, StsToken, RamRoleArn, ChainableRamRoleArn, " +
				"EcsRamRole, OIDC, CloudSSO, OAuth, External. Falls back to `ALIBABA_CLOUD_PROFILE`, then the file's current profile."),
			"shared_credentials_file": optional("Path of the aliyun CLI configuration file. Defaults to `~/.aliyun/config.json`. " +
				"Falls back to `ALIBABA_CLOUD_CREDENTIALS_FILE`."),
			"ecs_role_name": optional("RAM role attached to the ECS instance (or ACK node) Terraform runs on: its temporary "+
				"credentials are read from instance metadata (security-hardened mode first) and renewed before they expire. "+
				"Falls back to `ALIBABA_CLOUD_ECS_METADATA`, then `ALICLOUD_ECS_ROLE_NAME`.", stringvalidator.LengthAtLeast(1)),
			"credentials_uri": optional("URL answering temporary credentials as JSON (`AccessKeyId`, `AccessKeySecret`, "+
				"`SecurityToken`, `Expiration`), e.g. a credentials sidecar. Falls back to `ALIBABA_CLOUD_CREDENTIALS_URI`.",
				stringvalidator.LengthAtLeast(1)),
			"protocol": optional("Protocol for ASM API calls: `HTTPS` (default) or `HTTP`. HTTP is only used when asked for here "+
				"or in `ALIBABA_CLOUD_PROTOCOL`.",
				stringvalidator.OneOf("HTTPS", "HTTP")),
			"max_retries": schema.Int64Attribute{
				Optional:    true,
				Description: "How many times a throttled or failed (5xx, network) ASM call is retried with backoff. Defaults to 5.",
				Validators:  []validator.Int64{int64validator.Between(0, 50)},
			},
		},
		Blocks: map[string]schema.Block{
			"assume_role": schema.SingleNestedBlock{
				Description: "Assume a RAM role with the base credential (whichever kind it is) before calling ASM and ACK. " +
					"STS credentials are renewed before they expire.",
				Attributes: map[string]schema.Attribute{
					"role_arn":     optional("ARN of the RAM role to assume. Required in this block.", stringvalidator.LengthAtLeast(1)),
					"session_name": optional("Session name. Defaults to `terraform-provider-asm`."),
					"session_expiration": schema.Int64Attribute{
						Optional:    true,
						Description: "Session lifetime in seconds (900-3600).",
						Validators:  []validator.Int64{int64validator.Between(900, 3600)},
					},
					"policy":      optional("A RAM policy (JSON) further restricting the assumed role."),
					"external_id": optional("External ID the role's trust policy requires."),
				},
			},
			"assume_role_with_oidc": schema.SingleNestedBlock{
				Description: "Exchange an OIDC token for a RAM role's STS credentials (AssumeRoleWithOIDC): RRSA in an ACK Pod, " +
					"or a CI system's OIDC token. When the block is absent, the variables RRSA injects " +
					"(`ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`, `ALIBABA_CLOUD_OIDC_TOKEN_FILE`) are used when all three are set.",
				Attributes: map[string]schema.Attribute{
					"oidc_provider_arn": optional("ARN of the RAM OIDC identity provider. Required in this block; falls back to "+
						"`ALIBABA_CLOUD_OIDC_PROVIDER_ARN`.", stringvalidator.LengthAtLeast(1)),
					"role_arn": optional("ARN of the RAM role to assume. Required in this block; falls back to `ALIBABA_CLOUD_ROLE_ARN`.",
						stringvalidator.LengthAtLeast(1)),
					"oidc_token": sensitive("The OIDC token itself. Conflicts with `oidc_token_file`."),
					"oidc_token_file": optional("Path of a file holding the OIDC token, read again at every renewal (RRSA and CI "+
						"systems rotate it). Falls back to `ALIBABA_CLOUD_OIDC_TOKEN_FILE`.", stringvalidator.LengthAtLeast(1)),
					"session_name": optional("Session name. Defaults to `terraform-provider-asm`."),
					"session_expiration": schema.Int64Attribute{
						Optional:    true,
						Description: "Session lifetime in seconds (900-43200, within the role's maximum session duration).",
						Validators:  []validator.Int64{int64validator.Between(900, 43200)},
					},
					"policy": optional("A RAM policy (JSON) further restricting the assumed role."),
				},
			},
			"endpoints": schema.SingleNestedBlock{
				Description: "Override service endpoints.",
				Attributes: map[string]schema.Attribute{
					"sts": optional("Host (and optional `:port`) of STS, for `assume_role`, `assume_role_with_oidc` and CLI " +
						"profiles that assume roles; always HTTPS. Falls back to `ALIBABA_CLOUD_STS_ENDPOINT`; by default " +
						"`sts.aliyuncs.com`, or `sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com`."),
					"servicemesh": optional("Host (and optional `:port`) of the servicemesh API. Falls back to `ALIBABA_CLOUD_SERVICEMESH_ENDPOINT`."),
					"cs": optional("Host (and optional `:port`) of the ACK (Container Service) API, which `kubernetes.ack_cluster_id` " +
						"fetches kubeconfigs from. Falls back to `ALIBABA_CLOUD_CS_ENDPOINT`."),
				},
			},
			"kubernetes": kubernetesBlock(optional, sensitive),
		},
	}
}

func (p *asmProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	oidc := path.MatchRoot("assume_role_with_oidc")
	return append(kubernetesValidators(),
		providervalidator.Conflicting(oidc.AtName("oidc_token"), oidc.AtName("oidc_token_file")))
}

func (p *asmProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var config providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, "secret_key", "security_token", "token", "client_key")
	data := newProviderData(config, os.Getenv)
	data.auth.MetadataProxy = p.metadataProxy
	tflog.Debug(ctx, "configured asm provider", map[string]any{
		"region": data.asmConfig.Region, "servicemesh_endpoint": data.asmConfig.Endpoint,
		"protocol": data.asmConfig.Protocol, "kube_config_path": data.kubeConfig.ConfigPath,
		"kube_host": data.kubeConfig.Host, "ack_cluster_id": data.ack.clusterID, "cs_endpoint": data.ack.endpoint,
		"namespace": data.namespace,
	})
	resp.ResourceData = data
	resp.DataSourceData = data
	p.data, p.deferred = data, resp.Deferred != nil
}

func (p *asmProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewClusterAttachmentResource,
		NewInferenceServiceResource,
		NewModelStorageResource,
		NewServingRuntimeResource,
		NewClusterServingRuntimeResource,
		NewModelMeshIngressResource,
	}
}

func (p *asmProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewMeshDataSource,
		NewInferenceServiceDataSource,
		NewInferenceServicesDataSource,
		NewServingRuntimeDataSource,
		NewServingRuntimesDataSource,
		NewClusterServingRuntimeDataSource,
		NewClusterServingRuntimesDataSource,
	}
}

// providerData is what resources receive. Clients are built on first use so that configuring the
// provider, validate, and create-only plans never need a reachable endpoint.
type providerData struct {
	// asmConfig's credentials and, without a configured region, its region come from auth, on first use.
	asmConfig    asm.Config
	auth         alicred.Config
	kubeConfig   kube.Config
	ack          ackSettings
	namespace    string
	fieldManager string

	identityOnce sync.Once
	identity     *alicred.Identity
	identityErr  error

	asmOnce sync.Once
	asm     *asm.Client
	asmErr  error

	kubeOnce sync.Once
	kube     *kube.Client
	kubeErr  error

	// meshKubes are the clients of ASM control planes (see meshKube).
	meshKubesMu sync.Mutex
	meshKubes   map[meshKubeKey]*kube.Client
}

// ASM returns the shared ASM client, building it on first use.
func (d *providerData) ASM() (*asm.Client, error) {
	d.asmOnce.Do(func() {
		cfg, err := d.resolvedASMConfig()
		if err != nil {
			d.asmErr = err
			return
		}
		d.asm, d.asmErr = asm.NewClient(cfg)
	})
	return d.asm, d.asmErr
}

// resolvedASMConfig is asmConfig with the credential chain that ASM and ACK share (one STS
// session, not one per client) and the CLI profile's region when none is configured.
func (d *providerData) resolvedASMConfig() (asm.Config, error) {
	d.identityOnce.Do(func() { d.identity, d.identityErr = d.auth.Resolve() })
	if d.identityErr != nil {
		return asm.Config{}, d.identityErr
	}
	cfg := d.asmConfig
	cfg.Credentials = d.identity.Credentials
	if cfg.Region == "" {
		cfg.Region = d.identity.ProfileRegion
	}
	return cfg, nil
}

// setting resolves one string setting: the configured value, else the first environment variable
// that is set, else "".
type setting func(v types.String, envs ...string) string

func settingFrom(getenv func(string) string) setting {
	return func(v types.String, envs ...string) string {
		if !v.IsNull() && !v.IsUnknown() {
			return v.ValueString()
		}
		for _, e := range envs {
			if s := getenv(e); s != "" {
				return s
			}
		}
		return ""
	}
}

// newProviderData resolves every setting with the precedence configuration > environment >
// shared profile (the profile is read by the ASM client itself).
func newProviderData(c providerModel, getenv func(string) string) *providerData {
	first := settingFrom(getenv)
	d := &providerData{
		asmConfig: asm.Config{
			Region:     first(c.Region, "ALIBABA_CLOUD_REGION", "ALICLOUD_REGION"),
			Protocol:   first(c.Protocol, "ALIBABA_CLOUD_PROTOCOL"),
			MaxRetries: 5,
		},
		auth: alicred.Config{
			AccessKey:             first(c.AccessKey, "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY"),
			SecretKey:             first(c.SecretKey, "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY"),
			SecurityToken:         first(c.SecurityToken, "ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN"),
			ECSRoleName:           first(c.ECSRoleName, "ALIBABA_CLOUD_ECS_METADATA", "ALICLOUD_ECS_ROLE_NAME"),
			CredentialsURI:        first(c.CredentialsURI, "ALIBABA_CLOUD_CREDENTIALS_URI"),
			OIDC:                  oidcRole(c.AssumeRoleWithOIDC, first),
			Profile:               first(c.Profile, "ALIBABA_CLOUD_PROFILE"),
			SharedCredentialsFile: first(c.SharedCredentialsFile, "ALIBABA_CLOUD_CREDENTIALS_FILE"),
		},
		namespace:    defaultNamespace,
		fieldManager: defaultFieldManager,
	}
	if d.asmConfig.Protocol == "" {
		d.asmConfig.Protocol = "HTTPS"
	}
	if !c.MaxRetries.IsNull() && !c.MaxRetries.IsUnknown() {
		d.asmConfig.MaxRetries = int(c.MaxRetries.ValueInt64())
	}
	if r := c.AssumeRole; r != nil {
		d.auth.AssumeRole = &alicred.AssumeRole{
			RoleARN:           r.RoleARN.ValueString(),
			SessionName:       r.SessionName.ValueString(),
			SessionExpiration: int(r.SessionExpiration.ValueInt64()),
			Policy:            r.Policy.ValueString(),
			ExternalID:        r.ExternalID.ValueString(),
		}
	}
	endpoints := c.Endpoints
	if endpoints == nil {
		endpoints = &endpointsModel{Servicemesh: types.StringNull(), CS: types.StringNull(), STS: types.StringNull()}
	}
	d.asmConfig.Endpoint = first(endpoints.Servicemesh, "ALIBABA_CLOUD_SERVICEMESH_ENDPOINT")
	d.auth.STSEndpoint = first(endpoints.STS, "ALIBABA_CLOUD_STS_ENDPOINT")

	d.resolveKubernetes(c.Kubernetes, first, getenv)
	d.ack.endpoint = first(endpoints.CS, "ALIBABA_CLOUD_CS_ENDPOINT")
	return d
}

// oidcRole is the assume_role_with_oidc block, each attribute falling back to the variable RRSA
// injects into a Pod; without the block, those variables alone when all three are set.
func oidcRole(m *oidcRoleModel, first setting) *alicred.OIDCRole {
	block := m != nil
	if !block {
		m = &oidcRoleModel{}
	}
	r := &alicred.OIDCRole{
		ProviderARN:       first(m.OIDCProviderARN, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"),
		RoleARN:           first(m.RoleARN, "ALIBABA_CLOUD_ROLE_ARN"),
		Token:             first(m.OIDCToken),
		SessionName:       first(m.SessionName, "ALIBABA_CLOUD_ROLE_SESSION_NAME"),
		SessionExpiration: int(m.SessionExpiration.ValueInt64()),
		Policy:            first(m.Policy),
	}
	if r.Token == "" {
		r.TokenFile = first(m.OIDCTokenFile, "ALIBABA_CLOUD_OIDC_TOKEN_FILE")
	}
	if !block && (r.ProviderARN == "" || r.RoleARN == "" || r.TokenFile == "") {
		return nil
	}
	return r
}

// providerDataOf is the provider's data as Configure receives it; nil before the provider is
// configured (the framework calls Configure early, for validation, without it).
func providerDataOf(raw any, diags *diag.Diagnostics) *providerData {
	if raw == nil {
		return nil
	}
	data, ok := raw.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *providerData, got %T; please report this bug", raw))
		return nil
	}
	return data
}

// configuredResource is embedded by every resource: its Configure keeps the provider's data.
type configuredResource struct {
	data *providerData
}

func (r *configuredResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataOf(req.ProviderData, &resp.Diagnostics)
}
