package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestIsTransient(t *testing.T) {
	isvcs := schema.GroupResource{Group: "serving.kserve.io", Resource: "inferenceservices"}
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	badCA := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443", Err: x509.UnknownAuthorityError{}}
	cases := map[string]struct {
		err  error
		want bool
	}{
		"429":                 {apierrors.NewTooManyRequests("slow down", 1), true},
		"500":                 {apierrors.NewInternalError(errors.New("etcdserver: request timed out")), true},
		"503":                 {apierrors.NewServiceUnavailable("shutting down"), true},
		"504":                 {apierrors.NewTimeoutError("slow", 1), true},
		"connection refused":  {refused, true},
		"404":                 {apierrors.NewNotFound(isvcs, "m"), false},
		"409":                 {apierrors.NewConflict(isvcs, "m", errors.New("conflict")), false},
		"401":                 {apierrors.NewUnauthorized("expired"), false},
		"unknown CA":          {badCA, false},
		"deadline":            {&url.Error{Op: "Get", URL: "https://x", Err: context.DeadlineExceeded}, false},
		"canceled by the run": {context.Canceled, false},
	}
	for name, c := range cases {
		if got := isTransient(c.err); got != c.want {
			t.Errorf("%s: isTransient(%v) = %t, want %t", name, c.err, got, c.want)
		}
	}
}

func TestRetryTransient(t *testing.T) {
	saved := transientRetry
	transientRetry.first, transientRetry.max = time.Millisecond, time.Millisecond
	t.Cleanup(func() { transientRetry = saved })
	unavailable := apierrors.NewServiceUnavailable("restarting")

	calls := 0
	out, err := retryTransient(context.Background(), func() (int, error) {
		if calls++; calls < 3 {
			return 0, unavailable
		}
		return 42, nil
	})
	if out != 42 || err != nil || calls != 3 {
		t.Errorf("two 503s then success: got %d, %v after %d calls", out, err, calls)
	}

	calls = 0
	_, err = retryTransient(context.Background(), func() (int, error) { calls++; return 0, unavailable })
	if !apierrors.IsServiceUnavailable(err) || calls != transientRetry.attempts {
		t.Errorf("a lasting 503: got %v after %d calls, want the 503 after %d", err, calls, transientRetry.attempts)
	}

	calls = 0
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "s")
	if _, err = retryTransient(context.Background(), func() (int, error) { calls++; return 0, notFound }); !apierrors.IsNotFound(err) || calls != 1 {
		t.Errorf("a 404 is final: got %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	_, err = retryTransient(ctx, func() (int, error) { calls++; cancel(); return 0, unavailable })
	if !apierrors.IsServiceUnavailable(err) || calls != 1 {
		t.Errorf("a run that ends stops the retries: got %v after %d calls", err, calls)
	}
}
