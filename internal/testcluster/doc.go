// Package testcluster runs a throwaway kube-apiserver and etcd with KServe CRDs and a simulated ModelMesh controller for tests; there is no controller-manager, so deleted namespaces stay Terminating and nothing is garbage-collected.
package testcluster
