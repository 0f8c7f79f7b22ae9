package asmfake

import (
	"context"
	"time"
)

// Fault makes calls to one action misbehave. Faults apply to correctly signed requests only,
// before the action runs, so a refused call changes nothing, unless LoseAnswer is set.
type Fault struct {
	// Code is the error answered; empty adds Latency and then serves the call normally.
	Code string
	// HTTPStatus overrides the code's usual status (400 for throttling, 503 ServiceUnavailable,
	// 500 InternalError). Mind that the SDK's AutoRetry retries only statuses of 500 and above.
	HTTPStatus int
	// Message overrides the gateway's usual message for Code.
	Message string
	// Times is how many calls the fault affects; 0 means every call until ClearFaults.
	Times int
	// Latency delays the answer. A client that gives up meanwhile leaves no state change.
	Latency time.Duration
	// LoseAnswer carries the action out and then loses its answer: the connection closes without
	// one, or, with Code set, Code is answered instead (a gateway that gave up waiting). A client
	// that repeats the call then meets its own earlier change. The real service's answers get lost
	// like this on any network; ASM's AddClusterIntoServiceMesh is not idempotent, so a repeat is
	// refused (shared/reference/asm-openapi.md, "How the real service behaves around cluster
	// attach/detach").
	LoseAnswer bool
}

type pendingFault struct {
	Fault
	used int
}

// InjectFault queues a fault for an action. Queued faults apply one after another: the next one
// starts when the previous one has affected its Times calls.
func (s *Server) InjectFault(action string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[action] = append(s.faults[action], &pendingFault{Fault: f})
}

// ClearFaults removes every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string][]*pendingFault{}
}

// applyFault consumes the action's current fault, if any, and returns it with the refusal it calls
// for. A client that goes away during the fault's latency gets a refusal even for a LoseAnswer
// fault, whose action then does not run.
func (s *Server) applyFault(ctx context.Context, action string) (Fault, *apiError) {
	fault, ok := s.takeFault(action)
	if !ok {
		return Fault{}, nil
	}
	if fault.Latency > 0 && !sleepContext(ctx, fault.Latency) {
		// Nobody reads this answer; the status (nginx's "client closed request") marks it in the recorder.
		return Fault{}, &apiError{status: 499, code: "RequestCanceled", message: "the client went away during injected latency"}
	}
	if fault.Code == "" {
		return fault, nil
	}
	failure := &apiError{status: fault.HTTPStatus, code: fault.Code, message: fault.Message}
	if failure.status == 0 {
		failure.status = statusOf(fault.Code)
	}
	if failure.message == "" {
		failure.message = faultMessages[fault.Code]
	}
	if failure.message == "" {
		failure.message = "Injected fault " + fault.Code + "."
	}
	return fault, failure
}

func (s *Server) takeFault(action string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := s.faults[action]
	if len(queue) == 0 {
		return Fault{}, false
	}
	current := queue[0]
	current.used++
	if current.Times > 0 && current.used >= current.Times {
		s.faults[action] = queue[1:]
	}
	return current.Fault, true
}
