package puller

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// MLServerAdapterEnv names the model-mesh-mlserver-adapter binary (make's $(MLSERVER_ADAPTER)).
const MLServerAdapterEnv = "MLSERVER_ADAPTER"

// MLServerModelsDir is where the MLServer adapter lays models out for MLServer, under its
// ROOT_MODEL_DIR (server/server.go mlserverModelSubdir); the mlserver-1.x runtime points MLServer's
// MLSERVER_MODELS_DIR at /models/_mlserver_models/.
func MLServerModelsDir(rootModelDir string) string {
	return filepath.Join(rootModelDir, "_mlserver_models")
}

// MLServerAdapterOptions configure StartMLServerAdapter.
type MLServerAdapterOptions struct {
	Binary           string // model-mesh-mlserver-adapter; required
	RuntimePort      int    // MLServer's gRPC port on localhost (runtimeManagementPort; 8001 in mlserver-1.x)
	StorageConfigDir string // the storage-config Secret's mount (/storage-config in the Pod)
	RootModelDir     string // the models emptyDir (/models in the Pod)
	RuntimeVersion   string // the tag of the mlserver container's image ("1.3.2" in v0.12.0's config/runtimes)
	Log              io.Writer
}

// StartMLServerAdapter runs the MLServer adapter with the environment the ModelMesh controller
// v0.12.0 gives the mlserver-adapter container of the mlserver-1.x runtime
// (controllers/modelmesh/runtime.go addRuntimeToDeployment; values from
// config/runtimes/mlserver-1.x.yaml): ADAPTER_PORT (a free port here, 8085 there), RUNTIME_PORT,
// RUNTIME_DATA_ENDPOINT=port:<RUNTIME_PORT>, CONTAINER_MEM_REQ_BYTES from the mlserver container's
// memory request (1Gi), MEM_BUFFER_BYTES=134217728, LOADTIME_TIMEOUT=90000, USE_EMBEDDED_PULLER=true,
// RUNTIME_VERSION. The Pod sets no ROOT_MODEL_DIR or STORAGE_CONFIG_DIR: the adapter's defaults
// (/models, /storage-config) are its mounts, which outside a container are folders of the test.
// MLServer must already listen: the adapter dials it at start (NewMLServerAdapterServer).
func StartMLServerAdapter(ctx context.Context, opts MLServerAdapterOptions) (*Puller, error) {
	if opts.Binary == "" {
		return nil, errors.New("mlserver adapter: no model-mesh-mlserver-adapter binary (set " + MLServerAdapterEnv +
			"; make builds it as $(MLSERVER_ADAPTER))")
	}
	runtimePort := strconv.Itoa(opts.RuntimePort)
	return start(ctx, "mlserver adapter", opts.Binary, "ADAPTER_PORT", opts.Log,
		"RUNTIME_PORT="+runtimePort, "RUNTIME_DATA_ENDPOINT=port:"+runtimePort,
		"CONTAINER_MEM_REQ_BYTES="+strconv.Itoa(1<<30), "MEM_BUFFER_BYTES=134217728", "LOADTIME_TIMEOUT=90000",
		"USE_EMBEDDED_PULLER=true", "RUNTIME_VERSION="+opts.RuntimeVersion,
		"ROOT_MODEL_DIR="+opts.RootModelDir, "STORAGE_CONFIG_DIR="+opts.StorageConfigDir)
}

// WriteStorageConfig writes dir as the kubelet mounts the storage-config Secret: one file per key,
// each the JSON document asm_model_storage writes (internal/provider model_storage_mapping.go: type
// plus the s3 block's fields, as reference/modelmesh-examples/minio-storage-secret.yaml).
func WriteStorageConfig(dir string, keys map[string]map[string]string) error {
	for key, doc := range keys {
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, key), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
