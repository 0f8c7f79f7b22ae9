package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// orphanGuard makes sure every process of the stack (kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler, KWOK, the ModelMesh controller) dies with the test binary, however it ends: Stop, a
// failed test, a panic, `go test -timeout`, or SIGKILL.
//
// envtest starts the binaries itself with exec.Cmd and keeps the Cmd private, so Pdeathsig cannot be
// set. Instead every binary is started through a tiny wrapper script that append their own pid to a file and then
// exec the real binary (exec keeps the pid). A watchdog `sh` started beforehand reads its stdin, a pipe
// whose only writer is this process: when the process dies for any reason the kernel closes the pipe,
// the read returns, and the watchdog kills every recorded pid and removes the work folder. A clean
// Stop writes "disarm" first, so the watchdog exits without touching anything.
type orphanGuard struct {
	pidFile  string
	binDir   string
	watchdog *exec.Cmd
	pipe     *os.File
}

// liveGuards keeps every armed pipe reachable: a dropped Cluster must not let the garbage collector
// close the pipe (os.File has a finalizer) and so kill a control plane that a test still uses through
// a copied rest.Config.
var liveGuards sync.Map

// The rm is retried rather than waiting for the pids to vanish: killed processes may linger as
// zombies under an init that does not reap, and a dying etcd may still be writing for a moment.
const watchdogScript = `
trap '' HUP INT
read -r verdict
if [ "$verdict" != disarm ]; then
	for pid in $(cat "$1" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	n=0
	until rm -rf "$2" 2>/dev/null && [ ! -e "$2" ] || [ $n -ge 50 ]; do sleep 0.1; n=$((n+1)); done
fi
`

// wrapperScript records the pid of real runs only: envtest also runs each binary with --help to probe
// its flags, and a pid of an exited probe could be reused by an unrelated process.
const wrapperScript = `#!/bin/sh
if [ "$1" != --help ]; then echo $$ >> %s; fi
exec %s "$@"
`

// armOrphanGuard starts the watchdog for workDir; wrap then gives the paths to start in place of the
// real binaries.
func armOrphanGuard(workDir string) (*orphanGuard, error) {
	g := &orphanGuard{pidFile: filepath.Join(workDir, "control-plane.pids"), binDir: filepath.Join(workDir, "bin")}
	if err := os.MkdirAll(g.binDir, 0o755); err != nil {
		return nil, err
	}
	reader, writer, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Only this process's copy of the read end: the watchdog holds its own, so a close error changes nothing.
	defer func() { _ = reader.Close() }()
	g.watchdog = exec.Command("sh", "-c", watchdogScript, "testcluster-watchdog", g.pidFile, workDir)
	g.watchdog.Stdin = reader
	// Its own process group keeps a terminal's Ctrl-C (sent to the foreground group) from killing the
	// watchdog together with the test binary it outlives.
	g.watchdog.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.watchdog.Start(); err != nil {
		_ = writer.Close() // no watchdog reads the pipe; nothing depends on the close
		return nil, fmt.Errorf("start orphan watchdog: %w", err)
	}
	g.pipe = writer
	liveGuards.Store(g, struct{}{})
	return g, nil
}

// wrap writes the wrapper script that records the pid of realPath's runs, and returns its path.
func (g *orphanGuard) wrap(realPath string) (string, error) {
	wrapper := filepath.Join(g.binDir, filepath.Base(realPath))
	script := fmt.Sprintf(wrapperScript, shellQuote(g.pidFile), shellQuote(realPath))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return "", err
	}
	return wrapper, nil
}

// release ends the watchdog: disarmed after a clean stop, or triggered to kill whatever is left.
func (g *orphanGuard) release(disarm bool) error {
	if disarm {
		if _, err := g.pipe.WriteString("disarm\n"); err != nil {
			return fmt.Errorf("disarm orphan watchdog: %w", err)
		}
	}
	closeErr := g.pipe.Close()
	liveGuards.Delete(g)
	if err := g.watchdog.Wait(); err != nil {
		return fmt.Errorf("orphan watchdog: %w", err)
	}
	if closeErr != nil {
		return fmt.Errorf("close orphan watchdog pipe: %w", closeErr)
	}
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
