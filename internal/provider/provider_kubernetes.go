package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/client-go/rest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/ack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The kubernetes block: how the provider reaches the data-plane cluster, either through ACK with
// the provider's Alibaba Cloud identity (ack_cluster_id) or with Kubernetes settings of its own.

type kubernetesModel struct {
	ACKClusterID             types.String  `tfsdk:"ack_cluster_id"`
	PrivateEndpoint          types.Bool    `tfsdk:"private_endpoint"`
	TemporaryDurationMinutes types.Int64   `tfsdk:"temporary_duration_minutes"`
	ConfigPath               types.String  `tfsdk:"config_path"`
	ConfigContext            types.String  `tfsdk:"config_context"`
	Host                     types.String  `tfsdk:"host"`
	Token                    types.String  `tfsdk:"token"`
	ClusterCACertificate     types.String  `tfsdk:"cluster_ca_certificate"`
	ClientCertificate        types.String  `tfsdk:"client_certificate"`
	ClientKey                types.String  `tfsdk:"client_key"`
	Insecure                 types.Bool    `tfsdk:"insecure"`
	QPS                      types.Float64 `tfsdk:"qps"`
	Burst                    types.Int64   `tfsdk:"burst"`
	Namespace                types.String  `tfsdk:"namespace"`
	FieldManager             types.String  `tfsdk:"field_manager"`
}

// ackSettings select the ACK path: a kubeconfig fetched for clusterID with the provider's
// Alibaba Cloud credentials.
type ackSettings struct {
	clusterID string
	// unknown: the configuration sets ack_cluster_id from something not known before apply (a
	// cluster created in the same run). Plans that only create objects still work.
	unknown  bool
	private  bool
	lifetime time.Duration
	endpoint string
	// fromEnv: clusterID comes from ALIBABA_CLOUD_ACK_CLUSTER_ID, which no schema validator checks.
	fromEnv bool
}

const (
	envACKClusterID = "ALIBABA_CLOUD_ACK_CLUSTER_ID"
	// defaultKubeconfigMinutes is the life of each fetched credential: short, so that a credential
	// that leaks is soon useless, and long enough that even a large apply renews it rarely.
	defaultKubeconfigMinutes = 60
)

// ackConflicts are the settings that say how to reach a cluster by themselves: with
// ack_cluster_id, ACK's kubeconfig does that.
var ackConflicts = []string{"config_path", "config_context", "host", "token", "cluster_ca_certificate",
	"client_certificate", "client_key", "insecure"}

func kubernetesBlock(optional func(string, ...validator.String) schema.StringAttribute, sensitive func(string) schema.StringAttribute) schema.Block {
	return schema.SingleNestedBlock{
		Description: "The data-plane (ACK) cluster where ModelMesh runs: `ack_cluster_id` reaches an ACK cluster with the " +
			"provider's Alibaba Cloud credentials alone; the kubeconfig settings (`config_path`, `host`, ...) reach any " +
			"other cluster and fall back to the environment variables the hashicorp/kubernetes provider reads.",
		Attributes: map[string]schema.Attribute{
			"ack_cluster_id": optional("ID of the ACK cluster to manage. At the first Kubernetes call the provider fetches a "+
				"short-lived kubeconfig for it through the ACK API (DescribeClusterUserKubeconfig) with the provider's "+
				"Alibaba Cloud credentials, and a new one before that expires. The identity needs the RAM action "+
				"`cs:DescribeClusterUserKubeconfig` on the cluster and RBAC rights in it. Conflicts with the kubeconfig "+
				"settings. Falls back to `"+envACKClusterID+"` when neither `config_path` nor `host` is set.",
				asmIDValidator("ACK cluster")),
			"private_endpoint": schema.BoolAttribute{
				Optional: true,
				Description: "With `ack_cluster_id`: reach the cluster's internal (VPC) API server endpoint instead of its " +
					"public one. Defaults to `false`, as ACK's own default (`PrivateIpAddress`) does; set it when Terraform " +
					"runs inside the cluster's VPC or the cluster has no public endpoint.",
			},
			"temporary_duration_minutes": schema.Int64Attribute{
				Optional: true,
				Description: "With `ack_cluster_id`: how long each fetched credential lives, in minutes (15 to 4320). " +
					"Defaults to 60. A RAM condition on `cs:KubeConfigDurationMinutes` must allow it.",
				Validators: []validator.Int64{int64validator.Between(15, 4320)},
			},
			"config_path":    optional("Path of a kubeconfig file. Falls back to `KUBE_CONFIG_PATH`, then `KUBECONFIG`."),
			"config_context": optional("Context of the kubeconfig to use. Falls back to `KUBE_CTX`."),
			"host":           optional("API server URL. Falls back to `KUBE_HOST`."),
			"token":          sensitive("Bearer token. Falls back to `KUBE_TOKEN`."),
			"cluster_ca_certificate": optional("PEM-encoded CA certificate of the API server. " +
				"Falls back to `KUBE_CLUSTER_CA_CERT_DATA`."),
			"client_certificate": optional("PEM-encoded client certificate. Falls back to `KUBE_CLIENT_CERT_DATA`."),
			"client_key":         sensitive("PEM-encoded client key. Falls back to `KUBE_CLIENT_KEY_DATA`."),
			"insecure": schema.BoolAttribute{
				Optional:    true,
				Description: "Skip TLS verification of the API server. Falls back to `KUBE_INSECURE`. Off by default.",
			},
			"qps": schema.Float64Attribute{
				Optional:    true,
				Description: "Client-side request rate limit. Defaults to 500, sized for refreshing hundreds of objects.",
			},
			"burst": schema.Int64Attribute{
				Optional:    true,
				Description: "Client-side request burst. Defaults to 1000.",
				Validators:  []validator.Int64{int64validator.AtLeast(1)},
			},
			"namespace": optional("Namespace for namespaced objects that do not set one. Defaults to `modelmesh-serving`."),
			"field_manager": optional("Server-side apply field manager name. Defaults to `terraform-provider-asm`.",
				stringvalidator.LengthAtLeast(1)),
		},
	}
}

func kubernetesValidators() []provider.ConfigValidator {
	k := path.MatchRoot("kubernetes")
	validators := []provider.ConfigValidator{
		providervalidator.Conflicting(k.AtName("config_path"), k.AtName("host")),
		providervalidator.Conflicting(k.AtName("token"), k.AtName("client_certificate")),
		providervalidator.Conflicting(k.AtName("token"), k.AtName("client_key")),
		providervalidator.Conflicting(k.AtName("insecure"), k.AtName("cluster_ca_certificate")),
	}
	for _, name := range ackConflicts {
		validators = append(validators, providervalidator.Conflicting(k.AtName("ack_cluster_id"), k.AtName(name)))
	}
	return validators
}

// resolveKubernetes fills the Kubernetes settings. An ACK cluster ID in the configuration wins over
// every kubeconfig setting from the environment; one from the environment is taken only when the
// configuration names no kubeconfig or host either.
func (d *providerData) resolveKubernetes(k *kubernetesModel, first setting, getenv func(string) string) {
	if k == nil {
		k = &kubernetesModel{}
	}
	d.kubeConfig = kube.Config{QPS: float32(k.QPS.ValueFloat64()), Burst: int(k.Burst.ValueInt64())}
	if ns := first(k.Namespace); ns != "" {
		d.namespace = ns
	}
	if fm := first(k.FieldManager); fm != "" {
		d.fieldManager = fm
	}
	d.ack.clusterID = first(k.ACKClusterID)
	if k.ACKClusterID.IsUnknown() {
		d.ack.unknown = true
		return
	}
	if d.ack.clusterID == "" && k.ConfigPath.IsNull() && k.Host.IsNull() {
		d.ack.clusterID = getenv(envACKClusterID)
		d.ack.fromEnv = d.ack.clusterID != ""
	}
	if d.ack.clusterID != "" {
		d.ack.private = k.PrivateEndpoint.ValueBool()
		d.ack.lifetime = defaultKubeconfigMinutes * time.Minute
		if !k.TemporaryDurationMinutes.IsNull() && !k.TemporaryDurationMinutes.IsUnknown() {
			d.ack.lifetime = time.Duration(k.TemporaryDurationMinutes.ValueInt64()) * time.Minute
		}
		return
	}

	d.kubeConfig.ConfigPath = first(k.ConfigPath, "KUBE_CONFIG_PATH", "KUBECONFIG")
	d.kubeConfig.ConfigContext = first(k.ConfigContext, "KUBE_CTX")
	d.kubeConfig.Host = first(k.Host, "KUBE_HOST")
	d.kubeConfig.Token = first(k.Token, "KUBE_TOKEN")
	d.kubeConfig.ClusterCACertificate = first(k.ClusterCACertificate, "KUBE_CLUSTER_CA_CERT_DATA")
	d.kubeConfig.ClientCertificate = first(k.ClientCertificate, "KUBE_CLIENT_CERT_DATA")
	d.kubeConfig.ClientKey = first(k.ClientKey, "KUBE_CLIENT_KEY_DATA")
	if !k.Insecure.IsNull() && !k.Insecure.IsUnknown() {
		d.kubeConfig.Insecure = k.Insecure.ValueBool()
	} else if insecure, err := strconv.ParseBool(getenv("KUBE_INSECURE")); err == nil {
		d.kubeConfig.Insecure = insecure
	}
	// An explicit host means the user is not relying on a kubeconfig from the environment.
	if !k.Host.IsNull() && k.ConfigPath.IsNull() {
		d.kubeConfig.ConfigPath = ""
	}
}

// firstFetchTimeout bounds fetching the first ACK kubeconfig, retries included: Kube has no
// context of its own to end it.
const firstFetchTimeout = 2 * time.Minute

// Kube returns the shared Kubernetes client, building it on first use: for an ACK cluster, that is
// when the first kubeconfig is fetched.
func (d *providerData) Kube() (*kube.Client, error) {
	d.kubeOnce.Do(func() {
		cfg, err := d.restConfig()
		if err != nil {
			d.kubeErr = err
			return
		}
		d.kube, d.kubeErr = kube.New(cfg)
	})
	return d.kube, d.kubeErr
}

func (d *providerData) restConfig() (*rest.Config, error) {
	if d.ack.unknown {
		return nil, errors.New("kubernetes.ack_cluster_id is not known yet (it comes from a resource that is still to be " +
			"created), so the cluster cannot be reached in this plan; apply the resources that create the cluster first " +
			"(terraform apply -target=...), or plan only objects that are to be created")
	}
	if d.ack.clusterID == "" {
		return d.kubeConfig.RESTConfig()
	}
	if d.ack.fromEnv && !asmIDPattern.MatchString(d.ack.clusterID) {
		return nil, fmt.Errorf("%s=%q is not an ACK cluster ID: it must be \"c\" followed by hexadecimal digits, "+
			"e.g. c0a1b2c3d4e5f60718293a4b5c6d7e8f9 (the cluster's ID in the ACK console, not its name); fix or unset it",
			envACKClusterID, d.ack.clusterID)
	}
	asmConfig, err := d.resolvedASMConfig()
	if err != nil {
		return nil, err
	}
	scheme, err := asmConfig.Scheme()
	if err != nil {
		return nil, err
	}
	client, err := ack.NewClient(ack.Config{Region: asmConfig.Region, Scheme: scheme, Endpoint: d.ack.endpoint,
		Credentials: asmConfig.Credentials, Attempts: asmConfig.MaxRetries + 1})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), firstFetchTimeout)
	defer cancel()
	base, err := ack.NewAccess(client, d.ack.clusterID, d.ack.private, d.ack.lifetime).RESTConfig(ctx)
	if err != nil {
		return nil, err
	}
	cfg := d.kubeConfig
	cfg.Base = base
	return cfg.RESTConfig()
}
