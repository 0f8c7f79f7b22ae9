package kube

// Config describes how to reach the data-plane cluster. Empty fields fall back to kubeconfig
// loading rules; nothing is contacted until the first request.
type Config struct {
	ConfigPath           string
	ConfigContext        string
	Host                 string
	Token                string
	ClusterCACertificate string
	ClientCertificate    string
	ClientKey            string
	Insecure             bool
	QPS                  float32
	Burst                int
}
