package asmfake

import (
	"maps"
	"time"
)

// Request is one call the fake answered, refused ones included.
type Request struct {
	Action string
	Method string
	// Params are the query and body parameters, Signature and SecurityToken included.
	Params map[string]string
	// Time is when the request arrived.
	Time time.Time
	// Status is the HTTP status answered; 0 when the connection closed without an answer.
	Status int
	// Code is the error code answered; empty on success.
	Code string
	// AnswerLost marks a call that was carried out but whose answer was lost (Fault.LoseAnswer).
	AnswerLost bool
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// Requests returns the calls answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Params = maps.Clone(r.Params)
		out[i] = r
	}
	return out
}

// CountRequests counts the calls to an action, whatever their outcome.
func (s *Server) CountRequests(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Action == action {
			n++
		}
	}
	return n
}

// ResetRequests forgets the calls recorded so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
