package testcluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
)

// ServingNamespace is where ModelMesh Serving lives (the controller's namespace), created by
// StartLocal with the modelmesh-enabled=true label; InferenceServices may live there too.
const ServingNamespace = "modelmesh-serving"

// Local is everything an acceptance test needs: a cluster running the ModelMesh Serving controller,
// model-mesh's stand-in serving the runtimes' Pods, and a kubeconfig file.
type Local struct {
	Cluster *Cluster
	// ModelMesh is model-mesh's stand-in.
	ModelMesh *mmeshfake.Server
	// KubeconfigPath is a kubeconfig for the cluster, current context KubeconfigContext; it is removed
	// by Stop.
	KubeconfigPath string

	controller *process
}

// LocalOptions configures StartLocal.
type LocalOptions struct {
	// ModelMesh configures model-mesh's stand-in; Kube and EtcdEndpoints are filled in.
	ModelMesh mmeshfake.Options
	// BuiltInRuntimes applies the ClusterServingRuntimes of upstream's install (config/runtimes:
	// mlserver-1.x, ovms-1.x, torchserve-0.x, triton-2.x; see UpstreamRuntimes) once the controller
	// and its webhook are up, as a real install has them: models that name no runtime are then
	// auto-selected onto them.
	BuiltInRuntimes bool
}

// StartLocal starts a cluster from AssetsDir and ModelMeshAssetsDir, the ServingNamespace, the
// ModelMesh Serving controller and model-mesh's stand-in, then writes a kubeconfig.
func StartLocal(ctx context.Context, opts LocalOptions) (*Local, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	cluster, err := Start(ctx, Options{AssetsDir: assets})
	if err != nil {
		return nil, err
	}
	local := &Local{Cluster: cluster, KubeconfigPath: filepath.Join(cluster.workDir, "kubeconfig")}
	if err := cluster.CreateNamespace(ctx, ServingNamespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	if err := cluster.WriteKubeconfig(local.KubeconfigPath); err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	if err := cluster.installServing(ctx, cluster.env.ControlPlane.Etcd.URL.String()); err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	modelMesh := opts.ModelMesh
	modelMesh.Kube = cluster.RESTConfig()
	modelMesh.EtcdEndpoints = []string{cluster.env.ControlPlane.Etcd.URL.String()}
	if local.ModelMesh, err = mmeshfake.Start(ctx, modelMesh); err != nil {
		return nil, errors.Join(fmt.Errorf("start model-mesh's stand-in: %w", err), local.Stop())
	}
	if local.controller, err = cluster.startServingController(ctx); err != nil {
		return nil, errors.Join(err, local.Stop())
	}
	if opts.BuiltInRuntimes {
		if err := cluster.installBuiltInRuntimes(ctx); err != nil {
			return nil, errors.Join(err, local.Stop())
		}
	}
	return local, nil
}

// ControllerCrashes is how often the ModelMesh Serving controller crashed (and was restarted after
// the kubelet's back-off) since the stack started.
func (l *Local) ControllerCrashes() int { return l.controller.crashCount() }

// RestartController stops the ModelMesh Serving controller as a Pod deletion would (SIGTERM) and
// starts it again; it returns once the new one is ready. Its state lives in the cluster and in
// model-mesh's etcd records, so the new one carries on from there.
func (l *Local) RestartController(ctx context.Context) error {
	if err := l.controller.stop(); err != nil {
		return err
	}
	if err := l.controller.start(); err != nil {
		return err
	}
	return waitServingController(ctx, l.controller, l.Cluster.controllerProbeAddr())
}

// Stop stops model-mesh's stand-in, then the cluster with the controller.
func (l *Local) Stop() error {
	if l.ModelMesh != nil {
		l.ModelMesh.Stop()
	}
	return l.Cluster.Stop()
}
