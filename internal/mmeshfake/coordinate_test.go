package mmeshfake

import (
	"context"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestProcessInstancesCoordinate: two process-mode instances of one cluster, each with its own
// etcd client, session and cluster view as two mm containers have, joined as RunInstance joins
// them (their runtimes are not needed: the reaper does not load through them here). The first is
// elected leader; the other's reaper does nothing, not even prune a copy of an instance that
// never was; the leader's keeps both instances' copies and prunes the absent one's; once the
// leader stops, its record leaves the table, the other instance is elected and reaps its copies.
func TestProcessInstancesCoordinate(t *testing.T) {
	st := needStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer func(was int64) { instanceGoneAfter = was }(instanceGoneAfter)
	instanceGoneAfter = 200

	prefix := "coordinate-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "/mm/modelmesh-serving/"
	start := nowMs() - 1000
	type process struct {
		c      *cluster
		lease  clientv3.LeaseID
		cancel context.CancelFunc
	}
	join := func(id string) process {
		t.Helper()
		etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{st.etcdEP}, DialTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = etcd.Close() })
		// The reaper's timer stays off: the test runs reap itself, so that its effect is observed.
		opts := Options{Logf: t.Logf, ReaperFirst: time.Hour}.withDefaults()
		c := newCluster("", "modelmesh-serving", prefix, "", etcd, opts, func() map[string][]string { return nil },
			func(string) map[string][]byte { return nil })
		t.Cleanup(c.close)
		in := &instance{id: id, pod: "pod-" + id, labels: []string{"mt:linear"}, containerRun: containerRun{startedMs: start},
			running: map[string]int64{}, loadingThreads: 1}
		pctx, stop := context.WithCancel(ctx)
		t.Cleanup(stop)
		lease, err := c.join(pctx, in, "10.0.0.1", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		return process{c, lease, stop}
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return cond(), nil
		}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	locked := func(c *cluster, f func() bool) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return f()
	}
	// reapTwice runs c's reaper past instanceGoneAfter twice, as the leader's first finds an
	// instance missing and a later one prunes it.
	reapTwice := func(c *cluster) {
		t.Helper()
		for range 2 {
			time.Sleep(time.Duration(instanceGoneAfter+50) * time.Millisecond)
			if !locked(c, func() bool { return c.reap() == nil }) {
				t.Fatal("reap failed")
			}
		}
	}

	a := join("instance-aa")
	until("instance-aa leads", func() bool { return locked(a.c, func() bool { return a.c.leading }) })
	b := join("instance-bb")
	until("each sees the other", func() bool {
		return locked(a.c, func() bool { return a.c.peers["instance-bb"] }) && locked(b.c, func() bool { return b.c.peers["instance-aa"] })
	})
	if locked(b.c, func() bool { return b.c.leading }) {
		t.Fatal("instance-bb leads too")
	}

	// Copies loaded in both instances' current runs, long enough ago not to count as recent, and
	// one of an instance that is not in the table.
	copies := map[string]string{"on-a": "instance-aa", "on-b": "instance-bb", "on-gone": "instance-zz"}
	for model, inst := range copies {
		mr := &modelRecord{Type: "linear", MPath: "p", InstanceIDs: map[string]int64{inst: start + 500}}
		if !locked(a.c, func() bool { return a.c.commit(a.c.putModel(model, mr)) == nil }) {
			t.Fatal("writing", model)
		}
	}
	holds := func(model, inst string) bool {
		t.Helper()
		mr, err := a.c.getModel(model)
		if err != nil || mr == nil {
			t.Fatalf("model %s: %v", model, err)
		}
		_, ok := mr.InstanceIDs[inst]
		return ok
	}

	reapTwice(b.c)
	for model, inst := range copies {
		if !holds(model, inst) {
			t.Errorf("the non-leader's reaper removed %s's copy of %s", inst, model)
		}
	}

	reapTwice(a.c)
	if !holds("on-a", "instance-aa") || !holds("on-b", "instance-bb") {
		t.Error("the leader's reaper removed a live instance's copy")
	}
	if holds("on-gone", "instance-zz") {
		t.Error("the leader's reaper kept the copy of an instance absent from the table")
	}

	// The leader's process ends: its record leaves the table (RunInstance revokes its lease) and
	// instance-bb takes over the election and the reaper, which reaps instance-aa's copies.
	a.cancel()
	if _, err := a.c.etcd.Revoke(ctx, a.lease); err != nil {
		t.Fatal(err)
	}
	until("instance-bb leads without instance-aa", func() bool {
		return locked(b.c, func() bool { return b.c.leading && !b.c.peers["instance-aa"] })
	})
	reapTwice(b.c)
	if holds("on-a", "instance-aa") {
		t.Error("the new leader's reaper kept the copy of the stopped instance-aa")
	}
	if !holds("on-b", "instance-bb") {
		t.Error("the new leader's reaper removed its own instance's copy")
	}
}
