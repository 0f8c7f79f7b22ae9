package testcluster

import (
	"context"
	"errors"
	"path/filepath"
)

// ServingNamespace is where ModelMesh Serving lives, created by StartLocal.
const ServingNamespace = "modelmesh-serving"

// Local is everything an acceptance test needs: a cluster, the ModelMesh simulator, the serving
// namespace and a kubeconfig file.
type Local struct {
	Cluster   *Cluster
	Simulator *Simulator
	// KubeconfigPath is a kubeconfig for the cluster, current context KubeconfigContext; it is removed
	// by Stop.
	KubeconfigPath string

	simulatorOptions SimulatorOptions
}

// StartLocal starts a cluster from AssetsDir, the simulator with the given options, and the
// ServingNamespace labelled modelmesh-enabled=true, then writes a kubeconfig.
func StartLocal(ctx context.Context, simulator SimulatorOptions) (*Local, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	cluster, err := Start(ctx, Options{AssetsDir: assets})
	if err != nil {
		return nil, err
	}
	local := &Local{Cluster: cluster, KubeconfigPath: filepath.Join(cluster.workDir, "kubeconfig"), simulatorOptions: simulator}
	if err := cluster.CreateNamespace(ctx, ServingNamespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	if err := cluster.WriteKubeconfig(local.KubeconfigPath); err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	local.Simulator, err = StartModelMeshSimulator(ctx, cluster.RESTConfig(), simulator)
	if err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	return local, nil
}

// RestartSimulator stops the simulator and starts a new one, as the ModelMesh controller restarts
// when it loses its leader lease during a long apiserver outage: the new one lists everything afresh
// instead of waiting out its watches' growing backoff.
func (l *Local) RestartSimulator(ctx context.Context) error {
	l.Simulator.Stop()
	var err error
	l.Simulator, err = StartModelMeshSimulator(ctx, l.Cluster.RESTConfig(), l.simulatorOptions)
	return err
}

// Stop stops the simulator, then the cluster.
func (l *Local) Stop() error {
	if l.Simulator != nil {
		l.Simulator.Stop()
	}
	return l.Cluster.Stop()
}
