// Command model-mesh is model-mesh's stand-in as the "mm" container of a runtime Pod: one
// instance, configured only from what the ModelMesh controller gives the real container (its
// environment, the tc-config and etcd-config mounts), driving the runtime adapter in the same Pod
// (mmeshfake.RunInstance). It lives next to the package it runs and builds static
// (CGO_ENABLED=0), so that it can be its image's only file, as the test node's other images are.
// SIGTERM (the kubelet stopping the container) ends it after it leaves the instances table.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
)

func main() {
	opts, err := mmeshfake.InstanceOptionsFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "model-mesh:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := mmeshfake.RunInstance(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "model-mesh:", err)
		os.Exit(1)
	}
}
