package testcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// orphanHelperEnv makes the test binary, re-run as a child, start a cluster and die in the given way.
const orphanHelperEnv = "TESTCLUSTER_ORPHAN_HELPER"

const orphanReportPrefix = "orphan-helper:"

// TestOrphanHelper is the child side of TestControlPlaneDiesWithTestBinary.
func TestOrphanHelper(t *testing.T) {
	mode := os.Getenv(orphanHelperEnv)
	if mode == "" {
		t.Skip("run as a child by TestControlPlaneDiesWithTestBinary")
	}
	cluster, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cluster.guard.pidFile)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s %s %s\n", orphanReportPrefix, cluster.workDir, strings.Join(strings.Fields(string(data)), " "))
	switch mode {
	case "panic":
		panic("simulated crash with the control plane running")
	case "exit":
		os.Exit(3)
	default: // "timeout" ends by -test.timeout, "sigkill" by the parent
		time.Sleep(time.Hour)
	}
}

// TestControlPlaneDiesWithTestBinary re-runs the test binary, which starts a cluster and dies without
// Stop, and checks that every process of the cluster and the work folder go away with it.
func TestControlPlaneDiesWithTestBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks processes through /proc")
	}
	if testing.Short() {
		t.Skip("starts four more clusters and waits for a test timeout")
	}
	t.Parallel()
	// Long enough for the child to start its cluster while the others start theirs.
	childTimeout := 2*startupTime + 10*time.Second
	for _, mode := range []string{"panic", "exit", "sigkill", "timeout"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			child := exec.Command(os.Args[0], "-test.run=^TestOrphanHelper$", "-test.timeout="+childTimeout.String())
			// A private TMPDIR lets the check also find processes the child never reported.
			tmpDir := t.TempDir()
			child.Env = append(os.Environ(), orphanHelperEnv+"="+mode, "KUBEBUILDER_ASSETS="+sharedAssets, "TMPDIR="+tmpDir)
			var stderr strings.Builder
			child.Stderr = &stderr
			stdout, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			workDir, pids := readOrphanReport(stdout)
			if mode == "sigkill" {
				if err := child.Process.Kill(); err != nil {
					t.Errorf("kill child: %v", err)
				}
			}
			_ = child.Wait() // the child fails or is killed in every mode; the checks below are what count
			if len(pids) < len(clusterCommands) {
				t.Fatalf("child reported pids %v, want one of each of %v; stderr:\n%s", pids, clusterCommands, stderr.String())
			}

			// The bound is generous because four children stop at once on a machine that may be busy.
			var alive []int
			var statErr error
			if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				alive = aliveControlPlane(pids, tmpDir)
				_, statErr = os.Stat(workDir)
				return len(alive) == 0 && os.IsNotExist(statErr), nil
			}); err != nil {
				t.Fatalf("30s after the child died: control plane still running %v, work folder %s stat error %v", alive, workDir, statErr)
			}
		})
	}
}

func readOrphanReport(stdout io.Reader) (workDir string, pids []int) {
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 2 || fields[0] != orphanReportPrefix {
			continue
		}
		workDir = fields[1]
		for _, field := range fields[2:] {
			var pid int
			if _, err := fmt.Sscan(field, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
		break
	}
	go func() { // keep draining so the child never blocks on a full pipe
		for scanner.Scan() {
		}
	}()
	return workDir, pids
}

// clusterCommands are the command names (/proc/<pid>/comm, at most 15 bytes) of a Cluster's processes.
var clusterCommands = []string{"kube-apiserver", "etcd", "kube-controller", "kube-scheduler", "kwok"}

// aliveControlPlane returns the running processes of a cluster that are among pids or
// have tmpDir on their command line. A zombie is dead: after the child's death the processes belong
// to init, which may reap them late or never.
func aliveControlPlane(pids []int, tmpDir string) []int {
	entries, _ := os.ReadDir("/proc")
	var alive []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Format: pid (comm) state ...
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing+2 >= len(s) {
			continue
		}
		comm, state := s[open+1:closing], s[closing+2]
		if !slices.Contains(clusterCommands, comm) || state == 'Z' || state == 'X' {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if slices.Contains(pids, pid) || strings.Contains(string(cmdline), tmpDir) {
			alive = append(alive, pid)
		}
	}
	return alive
}
