package kube

import "k8s.io/client-go/rest"

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
	// Base, when set, is how to reach the cluster (an ACK cluster's refreshing access); only QPS
	// and Burst above apply to it.
	Base *rest.Config
}
