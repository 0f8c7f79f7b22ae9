// Command sleeper is the one program of the images the real-node test builds: the pause image
// runs it bare (it only holds the Pod's namespaces, as registry.k8s.io/pause does), the test image
// with arguments, which it prints to stdout (the container log) first. As PID 1 it gets no default
// signal handling, so it exits on SIGTERM/SIGINT itself, or the kubelet waits out the grace period.
// With SLEEPER_EXIT=<code> it exits at once with that code, after printing: a container that
// crashes. With SLEEPER_LISTEN=<address> it serves HTTP there: / answers its arguments, /healthz
// answers 503 until /ready is requested, then 200: a server whose readiness probe fails until the
// test says otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	message := strings.Join(os.Args[1:], " ")
	if message != "" {
		fmt.Println(message)
	}
	if code, err := strconv.Atoi(os.Getenv("SLEEPER_EXIT")); err == nil {
		os.Exit(code)
	}
	if addr := os.Getenv("SLEEPER_LISTEN"); addr != "" {
		go serve(addr, message)
	}
	<-stop
}

func serve(addr, message string) {
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, message) })
	mux.HandleFunc("/ready", func(http.ResponseWriter, *http.Request) { ready.Store(true) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	server := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
