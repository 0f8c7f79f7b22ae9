package kube

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Rate limits sized for a provider refreshing hundreds of objects in parallel; client-go's 5/10
// would serialize a large plan behind the client-side limiter.
const (
	DefaultQPS   = 500
	DefaultBurst = 1000
)

// ErrNotConfigured is returned on first use when neither a kubeconfig nor a host was given.
var ErrNotConfigured = errors.New("no Kubernetes cluster is configured: in the asm provider block, set " +
	"kubernetes.ack_cluster_id (or ALIBABA_CLOUD_ACK_CLUSTER_ID) for an ACK cluster, or kubernetes.config_path " +
	"(or KUBE_CONFIG_PATH / KUBECONFIG) or kubernetes.host for any cluster")

// RESTConfig builds the client configuration: an explicit host wins over kubeconfig, and the
// explicit credential fields override whatever the kubeconfig context holds.
func (c Config) RESTConfig() (*rest.Config, error) {
	var cfg *rest.Config
	switch {
	case c.Base != nil:
		cfg = rest.CopyConfig(c.Base)
	case c.ConfigPath != "":
		loader := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.ConfigPath}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: c.ConfigContext}
		c.applyOverrides(overrides)
		loaded, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loader, overrides).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %q (kubernetes.config_path) context %q (kubernetes.config_context): %w",
				c.ConfigPath, c.ConfigContext, err)
		}
		cfg = loaded
	case c.Host != "":
		cfg = &rest.Config{
			Host:        c.Host,
			BearerToken: c.Token,
			TLSClientConfig: rest.TLSClientConfig{
				Insecure: c.Insecure,
				CAData:   []byte(c.ClusterCACertificate),
				CertData: []byte(c.ClientCertificate),
				KeyData:  []byte(c.ClientKey),
			},
		}
	default:
		return nil, ErrNotConfigured
	}
	cfg.QPS, cfg.Burst = c.QPS, c.Burst
	if cfg.QPS == 0 {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = DefaultBurst
	}
	cfg.UserAgent = "terraform-provider-asm"
	return cfg, nil
}

func (c Config) applyOverrides(o *clientcmd.ConfigOverrides) {
	if c.Host != "" {
		o.ClusterInfo.Server = c.Host
	}
	if c.ClusterCACertificate != "" {
		o.ClusterInfo.CertificateAuthorityData = []byte(c.ClusterCACertificate)
	}
	if c.Insecure {
		o.ClusterInfo.InsecureSkipTLSVerify = true
	}
	o.AuthInfo = clientcmdapi.AuthInfo{
		Token:                 c.Token,
		ClientCertificateData: []byte(c.ClientCertificate),
		ClientKeyData:         []byte(c.ClientKey),
	}
}
