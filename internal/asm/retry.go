package asm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/servicemesh"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/alicred"
)

// backoff is an exponential schedule with jitter.
type backoff struct {
	initial, max time.Duration
	factor       float64
}

// delay is the wait after the n-th failure (n from 0): a random point in the upper half of the
// exponential step, so that clients throttled together do not come back together.
func (b backoff) delay(n int) time.Duration {
	step := min(float64(b.initial)*math.Pow(b.factor, float64(n)), float64(b.max))
	half := time.Duration(step / 2)
	return half + rand.N(half+1)
}

// invoke sends one API request through send, retrying throttling, 5xx answers and network errors
// with backoff: at most maxRetries times, and never past the context's deadline. Every failure it
// returns is an *Error carrying the answer's request ID, except a failure to obtain credentials,
// which is the credential chain's *alicred.Error: no request was sent, and no RAM permission on
// ASM is missing.
func invoke[Req any, Resp responses.AcsResponse](ctx context.Context, c *Client, action string,
	send func(*servicemesh.Client, Req) (Resp, error), req Req,
) (Resp, error) {
	var zero Resp
	for attempt := 1; ; attempt++ {
		cn, err := c.acquire(ctx)
		if err != nil {
			return zero, &Error{Action: action, Message: err.Error(), Err: err}
		}
		resp, err := send(cn.sdk, req)
		c.release(cn)
		if err == nil {
			tflog.Debug(ctx, "ASM call succeeded", map[string]any{
				"action": action, "request_id": requestIDOf(resp), "attempt": attempt,
			})
			return resp, nil
		}
		var credErr *alicred.Error
		if errors.As(err, &credErr) {
			return zero, fmt.Errorf("ASM %s was not sent: %w", action, credErr)
		}
		e := newError(action, err)
		e.Attempts = attempt
		if e.Kind != Retryable || attempt > c.maxRetries || ctx.Err() != nil {
			return zero, e
		}
		wait := c.retry.delay(attempt - 1)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return zero, e
		}
		tflog.Debug(ctx, "retrying ASM call", map[string]any{
			"action": action, "request_id": e.RequestID, "code": e.Code, "http_status": e.HTTPStatus,
			"attempt": attempt, "max_retries": c.maxRetries, "delay": wait.String(), "error": e.Message,
		})
		if sleep(ctx, wait) != nil {
			return zero, e
		}
	}
}

// requestIDOf reads a successful answer's request ID from its header, or else its body.
func requestIDOf(resp responses.AcsResponse) string {
	if id := http.Header(resp.GetHttpHeaders()).Get("x-acs-request-id"); id != "" {
		return id
	}
	var body struct {
		RequestID string `json:"RequestId"`
	}
	_ = json.Unmarshal(resp.GetHttpContentBytes(), &body)
	return body.RequestID
}

func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
