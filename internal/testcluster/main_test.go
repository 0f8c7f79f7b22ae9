package testcluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// local is the package's shared cluster and simulator, started once by TestMain.
var (
	local        *Local
	startupTime  time.Duration
	sharedAssets string
)

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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if local, err = StartLocal(ctx, SimulatorOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "start local cluster:", err)
		return 1
	}
	startupTime = time.Since(start)
	fmt.Fprintf(os.Stderr, "testcluster: cluster, CRDs and simulator up in %s\n", startupTime.Round(10*time.Millisecond))
	code := m.Run()
	if err := local.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop local cluster:", err)
		return 1
	}
	return code
}
