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
}

type providerModel struct {
	Region                types.String     `tfsdk:"region"`
	AccessKey             types.String     `tfsdk:"access_key"`
	SecretKey             types.String     `tfsdk:"secret_key"`
	SecurityToken         types.String     `tfsdk:"security_token"`
	Profile               types.String     `tfsdk:"profile"`
	SharedCredentialsFile types.String     `tfsdk:"shared_credentials_file"`
	Protocol              types.String     `tfsdk:"protocol"`
	MaxRetries            types.Int64      `tfsdk:"max_retries"`
	AssumeRole            *assumeRoleModel `tfsdk:"assume_role"`
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

type endpointsModel struct {
	Servicemesh types.String `tfsdk:"servicemesh"`
	CS          types.String `tfsdk:"cs"`
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
				"Falls back to `ALIBABA_CLOUD_REGION`, then `ALICLOUD_REGION`.", stringvalidator.LengthAtLeast(1)),
			"access_key": optional("Access key ID. Falls back to `ALIBABA_CLOUD_ACCESS_KEY_ID`, then `ALICLOUD_ACCESS_KEY`, " +
				"then the shared profile."),
			"secret_key": sensitive("Access key secret. Falls back to `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, then `ALICLOUD_SECRET_KEY`."),
			"security_token": sensitive("STS security token for temporary credentials. Falls back to " +
				"`ALIBABA_CLOUD_SECURITY_TOKEN`, then `ALICLOUD_SECURITY_TOKEN`."),
			"profile": optional("Profile of the aliyun CLI configuration to take credentials from when no access key is set. " +
				"Falls back to `ALIBABA_CLOUD_PROFILE`, then the file's current profile."),
			"shared_credentials_file": optional("Path of the aliyun CLI configuration file. Defaults to `~/.aliyun/config.json`. " +
				"Falls back to `ALIBABA_CLOUD_CREDENTIALS_FILE`."),
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
				Description: "Assume a RAM role with the base credentials before calling ASM.",
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
			"endpoints": schema.SingleNestedBlock{
				Description: "Override service endpoints.",
				Attributes: map[string]schema.Attribute{
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
	return append(kubernetesValidators(),
		providervalidator.Conflicting(path.MatchRoot("security_token"), path.MatchRoot("assume_role")))
}

func (p *asmProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var config providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, "secret_key", "security_token", "token", "client_key")
	data := newProviderData(config, os.Getenv)
	tflog.Debug(ctx, "configured asm provider", map[string]any{
		"region": data.asmConfig.Region, "servicemesh_endpoint": data.asmConfig.Endpoint,
		"protocol": data.asmConfig.Protocol, "kube_config_path": data.kubeConfig.ConfigPath,
		"kube_host": data.kubeConfig.Host, "ack_cluster_id": data.ack.clusterID, "cs_endpoint": data.ack.endpoint,
		"namespace": data.namespace,
	})
	resp.ResourceData = data
	resp.DataSourceData = data
}

func (p *asmProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewClusterAttachmentResource,
		NewInferenceServiceResource,
		NewModelStorageResource,
		NewServingRuntimeResource,
		NewClusterServingRuntimeResource,
	}
}

func (p *asmProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewMeshDataSource,
	}
}

// providerData is what resources receive. Clients are built on first use so that configuring the
// provider, validate, and create-only plans never need a reachable endpoint.
type providerData struct {
	asmConfig    asm.Config
	kubeConfig   kube.Config
	ack          ackSettings
	namespace    string
	fieldManager string

	asmOnce sync.Once
	asm     *asm.Client
	asmErr  error

	kubeOnce sync.Once
	kube     *kube.Client
	kubeErr  error
}

// ASM returns the shared ASM client, building it on first use.
func (d *providerData) ASM() (*asm.Client, error) {
	d.asmOnce.Do(func() { d.asm, d.asmErr = asm.NewClient(d.asmConfig) })
	return d.asm, d.asmErr
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
			Region:                first(c.Region, "ALIBABA_CLOUD_REGION", "ALICLOUD_REGION"),
			AccessKey:             first(c.AccessKey, "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY"),
			SecretKey:             first(c.SecretKey, "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY"),
			SecurityToken:         first(c.SecurityToken, "ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN"),
			Profile:               first(c.Profile, "ALIBABA_CLOUD_PROFILE"),
			SharedCredentialsFile: first(c.SharedCredentialsFile, "ALIBABA_CLOUD_CREDENTIALS_FILE"),
			Protocol:              first(c.Protocol, "ALIBABA_CLOUD_PROTOCOL"),
			MaxRetries:            5,
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
		d.asmConfig.AssumeRole = &asm.AssumeRole{
			RoleARN:           r.RoleARN.ValueString(),
			SessionName:       r.SessionName.ValueString(),
			SessionExpiration: int(r.SessionExpiration.ValueInt64()),
			Policy:            r.Policy.ValueString(),
			ExternalID:        r.ExternalID.ValueString(),
		}
	}
	endpoints := c.Endpoints
	if endpoints == nil {
		endpoints = &endpointsModel{Servicemesh: types.StringNull(), CS: types.StringNull()}
	}
	d.asmConfig.Endpoint = first(endpoints.Servicemesh, "ALIBABA_CLOUD_SERVICEMESH_ENDPOINT")

	d.resolveKubernetes(c.Kubernetes, first, getenv)
	d.ack.endpoint = first(endpoints.CS, "ALIBABA_CLOUD_CS_ENDPOINT")
	return d
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
