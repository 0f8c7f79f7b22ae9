package testnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A node's folder records the test binary that owns it and its bridge, so that a later Start can
// sweep the nodes of a binary that died without Stop (SIGKILL, `go test -timeout`): the kubelet and
// containerd die with it (Pdeathsig), but containerd's shims and their containers outlive it by
// design, holding mounts under the folder, cgroups and the bridge.
const (
	ownerFile  = "owner.pid"
	bridgeFile = "bridge"
)

func (n *Node) record() error {
	if err := os.WriteFile(filepath.Join(n.dir, bridgeFile), []byte(n.bridge), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// SweepOrphans removes what nodes of dead test binaries left behind: their processes (shims,
// containers), mounts, cgroups, bridges and folders. Start calls it; a node whose owner lives is
// left alone.
func SweepOrphans() error {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "testnode-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being made by a Start right now, or not a node's folder
		}
		if pid, err := strconv.Atoi(string(owner)); err == nil && alive(pid) {
			continue
		}
		bridge, _ := os.ReadFile(filepath.Join(dir, bridgeFile))
		n := &Node{Name: filepath.Base(dir), dir: dir, cgroupRoot: "/" + filepath.Base(dir), bridge: string(bridge)}
		if err := n.killProcesses(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.removeLeftovers(); err != nil {
			errs = append(errs, fmt.Errorf("orphaned node %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// killProcesses kills every process of the node: those naming its folder on their command line
// (containerd, the kubelet, the shims, whose -address is the node's socket) and those in its cgroups
// (the containers), then waits until they are gone.
func (n *Node) killProcesses() error {
	pids := map[int]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, file := range procs {
		cmdline, err := os.ReadFile(file)
		if err == nil && strings.Contains(string(cmdline), n.dir+"/") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(file)))
			pids[pid] = true
		}
	}
	for _, hierarchy := range cgroupHierarchies("cgroup", "cgroup2") {
		_ = filepath.WalkDir(filepath.Join(hierarchy, n.cgroupRoot), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil //nolint:nilerr // a cgroup gone meanwhile has no processes left
			}
			b, _ := os.ReadFile(path)
			for _, field := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(field); err == nil {
					pids[pid] = true
				}
			}
			return nil
		})
	}
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var left []int
		for pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("orphaned node %s: processes %v survive SIGKILL", n.Name, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive: the process exists and is not a zombie (a killed orphan belongs to init, which may reap
// it late).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may itself hold spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}
