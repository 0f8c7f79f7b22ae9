// Package testcluster runs a throwaway Kubernetes cluster for tests: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from pinned modules, KWOK playing the kubelet of a
// few fake Nodes, the KServe CRDs and the real ModelMesh Serving controller, with model-mesh itself
// (the one part that cannot run here) played by internal/mmeshfake.
package testcluster
