package testcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one binary of the stack that testcluster starts itself (envtest starts kube-apiserver
// and etcd): kube-controller-manager, kube-scheduler, KWOK, the ModelMesh controller. It runs
// through the orphan guard's wrapper, logs to a file in the work folder, and can be restarted.
type process struct {
	name    string
	path    string // the guard's wrapper
	args    []string
	env     []string
	dir     string
	logPath string

	// restartOnExit restarts the process when it exits by itself, as the kubelet restarts a
	// crashed container of a Deployment's Pod (restartPolicy Always).
	restartOnExit bool
	// logf reports unplanned exits.
	logf func(string, ...any)

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool // by stop, so an exit is not a crash and no restart is pending
	crashes int
}

// Crash-loop back-off of the kubelet: 10 s after the first crash, doubling up to 5 minutes
// (kubernetes pkg/kubelet/kubelet.go, backOffPeriod and MaxContainerBackOff).
const (
	crashBackOff    = 10 * time.Second
	maxCrashBackOff = 5 * time.Minute
)

// start runs the process; it is an error to start one that runs.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = false
	return p.startLocked()
}

func (p *process) startLocked() error {
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return errors.Join(fmt.Errorf("start %s: %w", p.name, err), logFile.Close())
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait() // the exit is reported through exited; stop and running look at it
		_ = logFile.Close()
		close(exited)
		p.exitedByItself(cmd, err)
	}()
	p.cmd, p.exited = cmd, exited
	return nil
}

// exitedByItself counts an exit that stop did not ask for as a crash and, for a process that
// restarts on exit, starts it again after the kubelet's back-off.
func (p *process) exitedByItself(cmd *exec.Cmd, exitErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != cmd || p.stopped {
		return
	}
	p.cmd = nil
	p.crashes++
	if p.logf != nil {
		p.logf("testcluster: %s exited by itself (%v), crash %d; log tail:\n%s", p.name, exitErr, p.crashes, p.logTail())
	}
	if !p.restartOnExit {
		return
	}
	backOff := crashBackOff << min(p.crashes-1, 5)
	time.AfterFunc(min(backOff, maxCrashBackOff), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopped || p.cmd != nil {
			return
		}
		if err := p.startLocked(); err != nil && p.logf != nil {
			p.logf("testcluster: restart %s: %v", p.name, err)
		}
	})
}

// crashCount is how often the process exited by itself.
func (p *process) crashCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crashes
}

// running reports whether the process started and has not exited.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process as a kubelet would end its container: SIGTERM, then SIGKILL after a grace
// period. Stopping a stopped process does nothing.
func (p *process) stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd, p.exited, p.stopped = nil, nil, true
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(15 * time.Second):
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-exited
	return nil
}

// logTail is the end of the process's log, for errors about it.
func (p *process) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
