package mmeshfake

import (
	"cmp"
	"slices"
	"time"
)

// The leader's reaper: pruning gone instances and loading models that have no copy.

// The leader's reaper prunes registrations of instances missing for more than
// ASSUME_INSTANCE_GONE_AFTER_MS (10 minutes). A variable so that tests can shorten it.
var instanceGoneAfter = int64(600_000)

// startReaper schedules the leader's reaper for this cluster.
func (c *cluster) startReaper(after time.Duration) {
	const key = "\x00reaper"
	c.timers[key] = time.AfterFunc(after, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		if err := c.reap(); err != nil {
			c.opts.Logf("mmeshfake: %s/%s: reaper: %v", c.namespace, c.service, err)
		}
		c.startReaper(c.opts.ReaperPeriod)
	})
}

// reap is the reaper's pruneModelRegistry and proactive loading (ModelMesh.java, reaperTask):
// copies and failures of instances missing for longer than instanceGoneAfter are removed, then
// models without copies and with fewer than two failures are loaded where they may run. The
// stand-in has no memory limit, so the cluster always has room for them.
func (c *cluster) reap() error {
	if len(c.instances) == 0 || !c.runsReaper() {
		return nil
	}
	now := nowMs()
	models, err := c.models()
	if err != nil {
		return err
	}
	gone := func(entries map[string]int64) []string {
		var out []string
		for _, id := range sortedKeys(entries) {
			if now-entries[id] < instanceGoneAfter {
				continue // recently loaded or failed
			}
			if c.present(id) {
				continue
			}
			since, known := c.missingSince[id]
			if !known {
				c.missingSince[id] = now
			} else if now-since > instanceGoneAfter {
				out = append(out, id)
			}
		}
		return out
	}
	type candidate struct {
		id string
		mr modelRecord
	}
	var load []candidate
	for _, m := range models {
		id, mr := m.id, m.mr
		pruned := 0
		for _, inst := range gone(mr.InstanceIDs) {
			delete(mr.InstanceIDs, inst)
			pruned++
		}
		for _, inst := range gone(mr.FailedIn) {
			mr.removeLoadFailure(inst)
			pruned++
		}
		if pruned > 0 {
			if err := c.commit(c.putModel(id, &mr)); err != nil {
				return err
			}
		}
		if len(mr.InstanceIDs) == 0 && len(mr.FailedIn) < 2 {
			load = append(load, candidate{id, mr})
		}
	}
	for inst, since := range c.missingSince {
		if c.present(inst) || now-since > instanceGoneAfter {
			delete(c.missingSince, inst)
		}
	}
	// Most recently used first (ModelToLoad ordering).
	slices.SortStableFunc(load, func(a, b candidate) int { return cmp.Compare(b.mr.LastUsed, a.mr.LastUsed) })
	for i := range load {
		if _, err := c.ensureLoaded(load[i].id, &load[i].mr, nil); err != nil {
			return err
		}
	}
	return nil
}
