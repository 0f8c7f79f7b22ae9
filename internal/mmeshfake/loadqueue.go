package mmeshfake

import (
	"context"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
)

// model-mesh runs at most loadingThreads loads at once per instance and queues the others
// (ModelMesh.java v0.12.0: initialize sets loadingThreads from the runtime's
// RuntimeStatusResponse.maxLoadingConcurrency and loadingPool is a ThreadPoolExecutor of that size
// over a PriorityBlockingQueue; CacheEntry.load enqueues the entry QUEUED, which getStatus reports
// as LOADING). A load's time, and its loading timeout (scheduleTimeoutForLoad), start when it
// leaves the queue. Removing a model stops its load and frees the thread (CacheEntry.remove
// cancels loadFuture). Queued loads start in the order they were queued: their priorities are
// their request times.

// loadJob is a load of model on an instance: the copy registered at start (ms), taking after.
type loadJob struct {
	model string
	start int64
	after time.Duration
}

// loadSpan is when the load of the copy registered at start (ms) ends, once it left the queue. A
// load by a real runtime (runtimeload.go) ends when the runtime answers: until then end is
// loadingForever; failure is the runtime's error as model-mesh records it, and cancel stops the call.
type loadSpan struct {
	start, end int64
	failure    string
	cancel     context.CancelFunc
}

// loadingConcurrency is the maxLoadingConcurrency a runtime container reports: a built-in
// adapter's LOADING_CONCURRENCY, which the controller sets from the runtime's annotation
// maxLoadingConcurrency (modelmesh-serving controllers/modelmesh/runtime.go), default 1
// (modelmesh-runtime-adapter v0.12.0 server/config.go defaultMaxLoadingConcurrency). A runtime
// without a built-in adapter reports its own; the stand-in takes 1 for it too.
func loadingConcurrency(c corev1.Container) int {
	for _, e := range c.Env {
		if n, err := strconv.Atoi(e.Value); e.Name == "LOADING_CONCURRENCY" && err == nil && n >= 1 {
			return n
		}
	}
	return 1
}

func copyKey(model, inst string) string { return model + "\x00" + inst }

// queueLoad starts the load of model's copy on in when a loading thread is free, else queues it.
func (c *cluster) queueLoad(in *instance, job loadJob) {
	if len(in.running) < in.loadingThreads {
		c.runLoad(in, job)
		return
	}
	in.queued = append(in.queued, job)
}

// runLoad takes a loading thread of in for job and arranges for the load's end.
func (c *cluster) runLoad(in *instance, job loadJob) {
	in.running[job.model] = job.start
	if in.runtime != nil {
		c.runtimeLoad(in, job)
		return
	}
	end := nowMs() + job.after.Milliseconds()
	c.spans[copyKey(job.model, in.id)] = loadSpan{start: job.start, end: end}
	c.scheduleCompletion(job.model, in.id, job.start, time.Duration(end-job.start)*time.Millisecond)
}

// loadEnded frees the loading thread of model's load on in and starts the next queued load whose
// copy is still registered.
func (c *cluster) loadEnded(in *instance, model string) {
	delete(in.running, model)
	for len(in.running) < in.loadingThreads && len(in.queued) > 0 {
		job := in.queued[0]
		in.queued = in.queued[1:]
		mr, err := c.getModel(job.model)
		if err != nil || mr == nil || mr.InstanceIDs[in.id] != job.start {
			continue // removed while it waited
		}
		c.runLoad(in, job)
	}
}

// loadDone tells whether the load of the copy registered on inst at start has ended by now.
func (c *cluster) loadDone(model, inst string, start, now int64) bool {
	span, ok := c.spans[copyKey(model, inst)]
	return ok && span.start == start && now >= span.end
}

// cancelLoads stops the loads of the models that ops delete, freeing their threads, and forgets
// their spans.
func (c *cluster) cancelLoads(ops []clientv3.Op) {
	prefix := c.modelKey("")
	for _, op := range ops {
		model, isModel := strings.CutPrefix(string(op.KeyBytes()), prefix)
		if !op.IsDelete() || !isModel {
			continue
		}
		for _, in := range c.instances {
			key := copyKey(model, in.id)
			if span, ok := c.spans[key]; ok && in.runtime != nil {
				c.runtimeRemove(in, model, span)
			}
			delete(c.spans, key)
			if _, running := in.running[model]; !running {
				continue
			}
			if t, ok := c.timers[key]; ok {
				t.Stop()
				delete(c.timers, key)
			}
			c.loadEnded(in, model)
		}
	}
}

func (in *instance) spareThreads() int { return in.loadingThreads - len(in.running) }
