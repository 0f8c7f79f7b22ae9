package testcluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
)

// local is the package's shared cluster with the ModelMesh controller, started once by TestMain.
var (
	local        *Local
	startupTime  time.Duration
	sharedAssets string
)

// Paths that make model-mesh's stand-in load slowly or fail (mmeshfake.Options).
const (
	slowMarker = "slow/"
	failMarker = "fail/"
)

// sharedModelMeshOptions are the stand-in's settings of the shared cluster.
var sharedModelMeshOptions = mmeshfake.Options{
	LoadDelay:      500 * time.Millisecond,
	SlowLoadDelay:  10 * time.Minute, // "slow" models stay Loading for the whole test
	SlowPathMarker: slowMarker,
	FailPathMarker: failMarker,
}

func TestMain(m *testing.M) {
	if os.Getenv(orphanHelperEnv) != "" {
		// A child started by TestControlPlaneDiesWithTestBinary starts its own cluster.
		os.Exit(m.Run())
	}
	os.Exit(runWithLocalCluster(m))
}

func runWithLocalCluster(m *testing.M) int {
	var err error
	if sharedAssets, err = AssetsDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Children of TestControlPlaneDiesWithTestBinary find the ModelMesh assets without the script.
	modelMeshAssets, err := ModelMeshAssetsDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Setenv(ModelMeshAssetsEnv, modelMeshAssets); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	local, err = StartLocal(ctx, LocalOptions{ModelMesh: sharedModelMeshOptions})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local cluster:", err)
		return 1
	}
	startupTime = time.Since(start)
	fmt.Fprintf(os.Stderr, "testcluster: cluster, KWOK, ModelMesh controller and model-mesh stand-in up in %s\n", startupTime.Round(10*time.Millisecond))
	code := m.Run()
	if err := local.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop local cluster:", err)
		return 1
	}
	return code
}
