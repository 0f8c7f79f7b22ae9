// Command mlserver runs the MLServer stand-in (package modelserver) as the mlserver container of a
// ModelMesh mlserver-1.x runtime Pod: the image built from it (internal/testnode) takes the place of
// seldonio/mlserver:1.3.2. It is configured from the environment as MLServer is there:
//
//   - MLSERVER_MODELS_DIR: the model repository. MLServer's image starts
//     `mlserver start $MLSERVER_MODELS_DIR` (its Dockerfile's CMD); mlserver-1.x.yaml sets
//     /models/_mlserver_models/, where the adapter lays models out (puller.MLServerModelsDir).
//   - MLSERVER_HOST and MLSERVER_GRPC_PORT: where the gRPC server listens (MLServer's Settings, env
//     prefix MLSERVER_; defaults 0.0.0.0 and 8081). mlserver-1.x.yaml sets 127.0.0.1 and 8001, the
//     runtime's grpcDataEndpoint and the adapter's RUNTIME_PORT.
//   - MLSERVER_MODEL_IMPLEMENTATION: the class of a model-settings.json that names none
//     (ModelSettings, env prefix MLSERVER_MODEL_), which asm_serving_runtime's MLServer preset sets.
//
// mlserver-1.x.yaml's other variables change nothing the stand-in serves: MLSERVER_HTTP_PORT (no
// REST here), MLSERVER_LOAD_MODELS_AT_STARTUP=false (it never loads at start),
// MLSERVER_MODEL_NAME (set so that RepositoryIndex does not fail on an empty repository, which the
// stand-in never does) and MLSERVER_GRPC_MAX_MESSAGE_LENGTH.
//
// As PID 1 it gets no default signal handling: it stops on SIGTERM/SIGINT itself, or the kubelet
// waits out the grace period.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	addr := net.JoinHostPort(env("MLSERVER_HOST", "0.0.0.0"), env("MLSERVER_GRPC_PORT", "8081"))
	server, err := modelserver.Start(modelserver.Options{
		ModelsDir:             env("MLSERVER_MODELS_DIR", "."),
		DefaultImplementation: os.Getenv("MLSERVER_MODEL_IMPLEMENTATION"),
		Addr:                  addr,
		Log:                   os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("MLServer stand-in (MLServer %s) serving gRPC on %s\n", modelserver.Version, addr)
	<-stop
	server.Stop()
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
