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

// orphanGuard makes sure kube-apiserver and etcd die with the test binary, however it ends: Stop, a
// failed test, a panic, `go test -timeout`, or SIGKILL.
//
// envtest starts the binaries itself with exec.Cmd and keeps the Cmd private, so Pdeathsig cannot be
// set. Instead envtest is pointed at tiny wrapper scripts that append their own pid to a file and then
// exec the real binary (exec keeps the pid). A watchdog `sh` started beforehand reads its stdin, a pipe
// whose only writer is this process: when the process dies for any reason the kernel closes the pipe,
// the read returns, and the watchdog kills every recorded pid and removes the work folder. A clean
// Stop writes "disarm" first, so the watchdog exits without touching anything.
type orphanGuard struct {
	pidFile  string
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

// armOrphanGuard starts the watchdog for workDir and returns wrapper paths to give envtest in place of
// the real binaries.
func armOrphanGuard(workDir, apiserverPath, etcdPath string) (g *orphanGuard, apiserverWrapper, etcdWrapper string, err error) {
	g = &orphanGuard{pidFile: filepath.Join(workDir, "control-plane.pids")}
	wrappers := map[string]string{}
	for name, realPath := range map[string]string{"kube-apiserver": apiserverPath, "etcd": etcdPath} {
		wrapper := filepath.Join(workDir, "bin", name)
		if err := os.MkdirAll(filepath.Dir(wrapper), 0o755); err != nil {
			return nil, "", "", err
		}
		script := fmt.Sprintf(wrapperScript, shellQuote(g.pidFile), shellQuote(realPath))
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			return nil, "", "", err
		}
		wrappers[name] = wrapper
	}

	reader, writer, err := os.Pipe()
	if err != nil {
		return nil, "", "", err
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
		return nil, "", "", fmt.Errorf("start orphan watchdog: %w", err)
	}
	g.pipe = writer
	liveGuards.Store(g, struct{}{})
	return g, wrappers["kube-apiserver"], wrappers["etcd"], nil
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
