package main

// The terraform CLI, timed per command, with the provider CPU and memory it used.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/rpcprofile"
)

// tfRunner runs the terraform CLI and measures each command.
type tfRunner struct {
	bin string
	env []string
	// profiles is where profiled commands' providers write their CPU profiles, a fresh folder each.
	profiles string
}

type phase struct {
	wall    time.Duration
	peakRSS int64
	// cpu is terraform's CPU time including the provider it waited for; providerCPU the provider's
	// alone, both user+system. Their split says on which side of the plugin protocol time goes.
	cpu, providerCPU time.Duration
	output           []byte // stdout and stderr
	// profile is the provider processes' CPU profiles merged, for a profiled command whose
	// provider writes them.
	profile *profile.Profile
}

func (t *tfRunner) run(ctx context.Context, dir string, args ...string) (phase, error) {
	return t.runEnv(ctx, dir, nil, args...)
}

// profiled runs a command whose providers each write a CPU profile with their RPCs labelled.
func (t *tfRunner) profiled(ctx context.Context, dir string, args ...string) (phase, error) {
	if err := os.MkdirAll(t.profiles, 0o755); err != nil {
		return phase{}, err
	}
	pd, err := os.MkdirTemp(t.profiles, args[0]+"-")
	if err != nil {
		return phase{}, err
	}
	ph, err := t.runEnv(ctx, dir, []string{rpcprofile.EnvDir + "=" + pd}, args...)
	if err != nil {
		return ph, err
	}
	ph.profile, err = loadProfiles(pd)
	return ph, err
}

func (t *tfRunner) runEnv(ctx context.Context, dir string, extraEnv []string, args ...string) (phase, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.bin, append([]string{"-chdir=" + dir}, append(args, "-no-color")...)...)
	if args[0] == "providers" {
		cmd.Args = cmd.Args[:len(cmd.Args)-1] // "providers schema" takes no -no-color
	}
	cmd.Env = append(slices.Clone(t.env), extraEnv...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return phase{}, err
	}
	stop := make(chan struct{})
	done := make(chan phase)
	go func() { done <- pollProvider(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	ph := <-done
	ph.wall, ph.cpu, ph.output = wall, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime(), output.Bytes()
	if err != nil {
		tail := output.String()
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return ph, fmt.Errorf("terraform %s: %w\n%s", strings.Join(args, " "), err, tail)
	}
	return ph, nil
}

// pollProvider returns the largest VmHWM (peak resident set) seen of the provider processes
// terraform starts, and their CPU time as last seen, polled every 20ms until stop. VmHWM is the
// kernel's own high-water mark, so a peak between polls is still seen, as long as the process is
// polled once before it exits; CPU time may miss a process's last 20ms.
func pollProvider(parent int, stop <-chan struct{}) phase {
	var ph phase
	cpu := map[int]time.Duration{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
			if err != nil || !bytes.HasPrefix(status, []byte("Name:\tterraform-provi")) { // comm is cut at 15 bytes
				continue
			}
			if procField(status, "PPid:") != int64(parent) || pid == parent {
				continue
			}
			ph.peakRSS = max(ph.peakRSS, procField(status, "VmHWM:")*1024)
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
				// Fields after the ")" that ends comm: utime and stime are the 12th and 13th, in
				// clock ticks (USER_HZ, 100 on Linux).
				f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
				utime, _ := strconv.ParseInt(f[11], 10, 64)
				stime, _ := strconv.ParseInt(f[12], 10, 64)
				cpu[pid] = time.Duration(utime+stime) * 10 * time.Millisecond
			}
		}
		select {
		case <-stop:
			for _, d := range cpu {
				ph.providerCPU += d
			}
			return ph
		case <-tick.C:
		}
	}
}

func procField(status []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == name {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}
