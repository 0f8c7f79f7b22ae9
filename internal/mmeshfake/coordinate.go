package mmeshfake

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Process mode's coordination between the instances of one cluster, each in its own process:
// every instance watches the instances table, and one leader, elected through etcd, runs the
// reaper. Placement stays local: a process loads only on its own instance (see doc.go).

// coordinate starts, until ctx ends or c closes, the watch of the instances table and this
// instance's candidacy for leadership. Until the election has answered, the process is no
// leader, so its reaper does nothing.
func (c *cluster) coordinate(ctx context.Context, self string) error {
	ctx, c.stopCoordination = context.WithCancel(ctx)
	c.mu.Lock()
	c.peers = map[string]bool{}
	c.leading = false
	c.mu.Unlock()
	if err := c.watchInstances(ctx, self); err != nil {
		return err
	}
	return c.campaign(ctx, self)
}

// watchInstances keeps c.peers equal to the other instances of the instances table, as
// model-mesh's instanceInfo, a KVTable view of <KV_STORE_PREFIX>/<service>/instances kept in
// sync with etcd by a watch (ModelMesh.initialize: instanceTable.getView, instanceTableListener).
// A record leaves the table when its instance's session lease ends (registerInstance).
func (c *cluster) watchInstances(ctx context.Context, self string) error {
	table := c.prefix + "instances/"
	getCtx, cancel := etcdCtx()
	defer cancel()
	resp, err := c.etcd.Get(getCtx, table, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	c.mu.Lock()
	for _, kv := range resp.Kvs {
		c.setPeer(strings.TrimPrefix(string(kv.Key), table), self)
	}
	c.mu.Unlock()
	watch := c.etcd.Watch(ctx, table, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	c.coordination.Add(1)
	go func() {
		defer c.coordination.Done()
		for wr := range watch {
			c.mu.Lock()
			for _, ev := range wr.Events {
				id := strings.TrimPrefix(string(ev.Kv.Key), table)
				if ev.Type == clientv3.EventTypeDelete {
					delete(c.peers, id)
				} else {
					c.setPeer(id, self)
				}
			}
			c.mu.Unlock()
			if err := wr.Err(); err != nil {
				c.opts.Logf("mmeshfake: %s: instances table watch: %v", c.service, err)
			}
		}
	}()
	return nil
}

// setPeer records instance id as present; this instance is not its own peer. Presence is all the
// reaper asks of the table (ModelMesh reaperTask: instanceInfo.contains(instId)).
func (c *cluster) setPeer(id, self string) {
	if id != self {
		c.peers[id] = true
	}
}

// campaign runs this instance's candidacy in the leader election at
// <KV_STORE_PREFIX>/<service>/leaderLatch with id "_"+instance id (ModelMesh.initialize:
// kvUtilsFactory.newLeaderElection(llatchPath, leaderLatchId)). kv-utils' etcd election is not
// in this repository's reference; the stand-in uses etcd's own election recipe (concurrency.Election:
// lease-bound candidate keys, the oldest leads, the next takes over when its lease ends), which
// gives the same guarantee model-mesh relies on: one leader at a time, replaced when it is gone.
// Leadership ends with the session (ModelMesh.leaderChange(false) stops the reaper).
func (c *cluster) campaign(ctx context.Context, self string) error {
	session, err := concurrency.NewSession(c.etcd, concurrency.WithTTL(sessionTTL), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	election := concurrency.NewElection(session, strings.TrimSuffix(c.prefix, "/")+"/leaderLatch")
	c.coordination.Add(1)
	go func() {
		defer c.coordination.Done()
		// A process that ends hands leadership on at once rather than at its lease's expiry
		// (session.Close would revoke with the ended ctx, and fail).
		defer func() {
			revokeCtx, cancel := etcdCtx()
			defer cancel()
			_, _ = c.etcd.Revoke(revokeCtx, session.Lease())
		}()
		if err := election.Campaign(ctx, "_"+self); err != nil {
			return // ctx ended
		}
		c.setLeading(true)
		c.opts.Logf("mmeshfake: %s: instance %s elected leader", c.service, self)
		<-session.Done()
		c.setLeading(false)
	}()
	return nil
}

func (c *cluster) setLeading(leading bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leading = leading
}

// runsReaper reports whether this process runs the leader's reaper: always in-process mode,
// which holds every instance of the cluster; in process mode only while elected leader.
func (c *cluster) runsReaper() bool {
	return c.peers == nil || c.leading
}

// present reports whether instance id is in the instances table as this process sees it.
func (c *cluster) present(id string) bool {
	if _, ok := c.instances[id]; ok {
		return true
	}
	return c.peers[id]
}
