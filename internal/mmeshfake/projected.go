package mmeshfake

import (
	"reflect"
	"time"
)

// projectedFile is what a container reads from a ConfigMap volume: the content when the Pod
// started, then each change of the ConfigMap refresh after it was first noticed, as the kubelet
// rewrites the projected file only at its next sync of the Pod. Callers hold the cluster's lock.
type projectedFile[T any] struct {
	refresh time.Duration
	read    func() T

	seen         T
	pending      T
	pendingSince time.Time
}

// newProjectedFile reads the content a Pod starting now mounts.
func newProjectedFile[T any](refresh time.Duration, read func() T) *projectedFile[T] {
	return &projectedFile[T]{refresh: refresh, read: read, seen: read()}
}

func (f *projectedFile[T]) current() T {
	latest := f.read()
	now := time.Now()
	switch {
	case reflect.DeepEqual(latest, f.seen):
		f.pendingSince = time.Time{}
	case f.pendingSince.IsZero() || !reflect.DeepEqual(latest, f.pending):
		f.pending, f.pendingSince = latest, now
		if f.refresh == 0 {
			f.seen = latest
		}
	case now.Sub(f.pendingSince) >= f.refresh:
		f.seen, f.pendingSince = latest, time.Time{}
	}
	return f.seen
}
