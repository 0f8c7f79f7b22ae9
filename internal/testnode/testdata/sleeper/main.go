// Command sleeper is the one program of the images the real-node test builds: the pause image
// runs it bare (it only holds the Pod's namespaces, as registry.k8s.io/pause does), the test image
// with arguments, which it prints to stdout (the container log) first. As PID 1 it gets no default
// signal handling, so it exits on SIGTERM/SIGINT itself, or the kubelet waits out the grace period.
// With SLEEPER_EXIT=<code> it exits at once with that code, after printing: a container that
// crashes.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if len(os.Args) > 1 {
		fmt.Println(strings.Join(os.Args[1:], " "))
	}
	if code, err := strconv.Atoi(os.Getenv("SLEEPER_EXIT")); err == nil {
		os.Exit(code)
	}
	<-stop
}
