package kube

import (
	"context"
	"errors"
	"net"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// transientRetry spaces retries over about 18 s (0.25 s doubling up to 5 s, 8 attempts): long enough
// to ride out an apiserver restart or a burst of 429/5xx answers, short enough that a cluster that is
// really down fails the run instead of hanging it. Every call retried (get, server-side apply,
// delete, merge patch) is idempotent, so a retry after a lost answer cannot do anything twice.
var transientRetry = struct {
	first, max time.Duration
	attempts   int
}{first: 250 * time.Millisecond, max: 5 * time.Second, attempts: 8}

// retryTransient calls call until it succeeds, fails for a reason that retrying cannot change,
// the attempts run out or ctx ends; it returns the last result.
func retryTransient[T any](ctx context.Context, call func() (T, error)) (T, error) {
	delay := transientRetry.first
	for attempt := 1; ; attempt++ {
		out, err := call()
		if err == nil || !isTransient(err) || attempt >= transientRetry.attempts {
			return out, err
		}
		timer := time.NewTimer(wait.Jitter(delay, 0.1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return out, err
		case <-timer.C:
		}
		delay = min(2*delay, transientRetry.max)
	}
}

// isTransient reports errors that say nothing about the object: the server was overloaded,
// failed internally, or could not be reached at all.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == 429 || code == 500 || code == 502 || code == 503 || code == 504
	}
	return isConnectionError(err)
}

// isConnectionError reports a request that got no HTTP answer because the server was not there or
// went away. TLS and DNS failures are not among them: waiting would not fix those.
func isConnectionError(err error) bool {
	var netErr net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}
