// Package childproc runs a test server binary as a child process and waits until it answers: the
// one lifecycle internal/objectstore and internal/puller share, and their output in the test log.
package childproc

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a started command.
type Proc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited; then waitErr is its Wait result
	waitErr error
}

// Start starts cmd, to be killed with the test binary however that ends (a killed `go test` would
// otherwise leave the server running and its port taken), as internal/testnode's daemons are.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// WaitReady polls ready every 100 ms until it reports true; it fails when the process exits first
// or ctx ends. what names the awaited state in errors ("answer on 127.0.0.1:N").
func (p *Proc) WaitReady(ctx context.Context, what string, ready func() bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it would %s: %v", p.cmd.Path, what, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s did not %s: %w", p.cmd.Path, what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Stop kills the process and waits for it to exit.
func (p *Proc) Stop() {
	// Kill fails harmlessly on a process that already exited.
	_ = p.cmd.Process.Kill()
	<-p.exited
}
