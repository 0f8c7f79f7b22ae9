package mmeshfake

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// Constants of model-mesh v0.12.0 (src/main/java/com/ibm/watson/modelmesh/ModelMesh.java).
const (
	// maxLoadFailures recent failures stop further load attempts (MAX_LOAD_FAILURES).
	maxLoadFailures = 3
	// inUseLoadFailureExpiry is how long a failure counts towards maxLoadFailures
	// (IN_USE_LOAD_FAILURE_EXPIRY_MS = LOAD_FAILURE_EXPIRY_MS/2, default 15 min / 2).
	inUseLoadFailureExpiry = 450_000
	// lastUsedAgeOnAdd backdates a new record's last-used time (LASTUSED_AGE_ON_ADD_MS).
	lastUsedAgeOnAdd = 3_600_000
	// defaultTypeMapping is the type-constraints entry used for types without their own
	// (TypeConstraintManager.DEFAULT_TYPE_MAPPING).
	defaultTypeMapping = "_default"
	// noHomeMessage starts model-mesh's error when no running instance carries a type's required
	// labels (ModelMesh.verifyLocalTypeConstraintsBeforeLoad); the controller's decodeModelState
	// turns it into RuntimeUnhealthy, RuntimeNotRecognized or NoSupportingRuntime.
	noHomeMessage = "There are no running instances that meet the label requirements of type "
	// etcdTimeout bounds each registry operation.
	etcdTimeout = 10 * time.Second
)

// instance is one model-mesh container: a ready runtime pod.
type instance struct {
	// id is the last 12 characters of the pod name, as model-mesh's start.sh registers it; it is
	// the "location" of a copy in the controller's status.
	id     string
	pod    string
	addr   string
	labels []string
	// loadTimeout is the runtime's loading timeout, which its adapter reports to model-mesh; zero
	// for none.
	loadTimeout time.Duration
	// storageSecret is the Secret mounted as the puller's storage-config; "" for none.
	storageSecret string
	containerRun
	// draining: the pod is being deleted. model-mesh's preShutdown no longer takes loads there but
	// keeps its copies registered until they have been loaded elsewhere (ModelMesh.preShutdown).
	draining bool
	server   *grpc.Server
	// runtime is the model runtime whose ModelRuntime API loads this instance's copies; nil
	// simulates the loads (loads.go).
	runtime modelRuntime
	// loadingThreads is the runtime's maxLoadingConcurrency; running maps the models loading here
	// now to their copies' start, and queued holds the loads waiting for a thread (loadqueue.go).
	loadingThreads int
	running        map[string]int64
	queued         []loadJob
}

// cluster is one model-mesh cluster: the instances of one namespace and service name, sharing a
// registry in etcd (ModelMesh.initialize: tables under <KV_STORE_PREFIX>/<service name>).
type cluster struct {
	namespace, service string
	etcd               *clientv3.Client
	opts               Options
	// constraints returns the type constraints: type → required labels; nil means none configured.
	constraints func() map[string][]string
	// secretData returns the data of a Secret of the namespace; nil when it does not exist.
	secretData func(name string) map[string][]byte

	mu sync.Mutex
	// prefix is <root_prefix>/mm/<service>/, the registry and vmodels tables below it.
	prefix       string
	defaultOwner string
	instances    map[string]*instance
	timers       map[string]*time.Timer
	closed       bool
	// downStart records, for instances that went down while this process watched, their
	// container's run; a different run on their return means the container restarted.
	downStart map[string]containerRun
	// missingSince is the reaper's map of instances found missing, and since when.
	missingSince map[string]int64
	// placed counts copies this process placed per instance, standing in for the free-space
	// ranking of model-mesh's CacheMissForwardingLB.
	placed map[string]int
	// spans are the loads that left their instance's queue, by copyKey.
	spans map[string]loadSpan
	// peers are the other instances of the instances table; nil in in-process mode, which holds
	// every instance itself. leading: this process is the leader. Both are process mode's
	// (coordinate.go).
	peers   map[string]bool
	leading bool
	// stopCoordination ends the watch and candidacy; coordination waits for them to end.
	stopCoordination context.CancelFunc
	coordination     sync.WaitGroup
}

func newCluster(namespace, service, prefix, defaultOwner string, etcd *clientv3.Client, opts Options,
	constraints func() map[string][]string, secretData func(string) map[string][]byte) *cluster {
	return &cluster{
		namespace: namespace, service: service, prefix: prefix, defaultOwner: defaultOwner,
		etcd: etcd, opts: opts, constraints: constraints, secretData: secretData,
		instances: map[string]*instance{}, timers: map[string]*time.Timer{}, placed: map[string]int{},
		downStart: map[string]containerRun{}, missingSince: map[string]int64{}, spans: map[string]loadSpan{},
	}
}

// copyLive reports whether the registry entry (instance id, load start) is a copy that an
// instance of this cluster holds: the instance is up (or draining) and the entry is from its
// current run.
func (c *cluster) copyLive(id string, start int64) bool {
	in, ok := c.instances[id]
	return ok && start >= in.startedMs
}

// liveCopies returns the copies of model id (record mr) on instances that can answer for them,
// and whether any of them has finished loading.
func (c *cluster) liveCopies(id string, mr *modelRecord, exclude []string) (ids []string, loaded bool) {
	now := nowMs()
	for _, inst := range sortedKeys(mr.InstanceIDs) {
		start := mr.InstanceIDs[inst]
		if slices.Contains(exclude, inst) || !c.copyLive(inst, start) {
			continue
		}
		ids = append(ids, inst)
		if c.loadFailure(id, mr, c.instances[inst]) == "" && c.loadDone(id, inst, start, now) {
			loaded = true
		}
	}
	return ids, loaded
}

// status is ModelMesh.getStatus: LOADED or LOADING when an instance holds a copy (a copy on an
// instance that is gone cannot be reached and does not count), otherwise LOADING_FAILED after a
// recorded failure, else NOT_LOADED (the controller's Standby).
func (c *cluster) status(id string, mr *modelRecord) *mmesh.ModelStatusInfo {
	if mr == nil {
		return &mmesh.ModelStatusInfo{Status: mmesh.ModelStatusInfo_NOT_FOUND}
	}
	if ids, loaded := c.liveCopies(id, mr, nil); len(ids) > 0 {
		st := mmesh.ModelStatusInfo_LOADING
		if loaded {
			st = mmesh.ModelStatusInfo_LOADED
		}
		return makeStatusInfo(st, nil, mr, nowMs())
	}
	if mr.hasLoadFailure() {
		return makeStatusInfo(mmesh.ModelStatusInfo_LOADING_FAILED, nil, mr, nowMs())
	}
	return &mmesh.ModelStatusInfo{Status: mmesh.ModelStatusInfo_NOT_LOADED}
}

// requiredLabels looks a model type up in the type constraints, falling back to "_default"
// (TypeConstraintManager.getTypeConstraints). constrained is false when no constraints apply.
func (c *cluster) requiredLabels(modelType string) (labels []string, constrained bool) {
	tc := c.constraints()
	if tc == nil {
		return nil, false
	}
	if l, ok := tc[modelType]; ok {
		return l, len(l) > 0
	}
	l, ok := tc[defaultTypeMapping]
	return l, ok && len(l) > 0
}

// ensureLoaded is the load path of ModelMesh.invokeModel for an external ensureLoaded request
// (modelmesh v0.12.0): a held copy answers with its state; otherwise, in model-mesh's order, too
// many recent failures stop the load, an empty candidate set for the model's type answers the
// no-home message, instances that already hold or failed the model are skipped, and the load
// starts on one of the rest. It returns LOADING at once: loads are asynchronous.
func (c *cluster) ensureLoaded(id string, mr *modelRecord, exclude []string) (*mmesh.ModelStatusInfo, error) {
	now := nowMs()
	if ids, loaded := c.liveCopies(id, mr, exclude); len(ids) > 0 {
		st := mmesh.ModelStatusInfo_LOADING
		if loaded {
			st = mmesh.ModelStatusInfo_LOADED
		}
		return makeStatusInfo(st, nil, mr, now), nil
	}
	// ModelMesh.checkLoadFailureCount
	recent := 0
	for _, at := range mr.FailedIn {
		if at > now-inUseLoadFailureExpiry {
			recent++
		}
	}
	if recent >= maxLoadFailures {
		inst := mr.mostRecentFailure()
		return makeStatusInfo(mmesh.ModelStatusInfo_LOADING_FAILED, &loadError{msg: mr.Fails[inst].Msg, instance: inst}, mr, now), nil
	}
	required, constrained := c.requiredLabels(mr.Type)
	var candidates []*instance
	for _, in := range c.sortedInstances() {
		if !in.draining && (!constrained || hasAll(in.labels, required)) {
			candidates = append(candidates, in)
		}
	}
	if constrained && len(candidates) == 0 {
		msg := noHomeMessage + mr.Type + ": " + requiredLabelsString(required)
		return makeStatusInfo(mmesh.ModelStatusInfo_LOADING_FAILED, &loadError{msg: msg}, mr, now), nil
	}
	// The cache-miss exclude set: explicit excludes, instances holding the model, failed ones.
	var target *instance
	for _, in := range candidates {
		_, holds := mr.InstanceIDs[in.id]
		_, failed := mr.FailedIn[in.id]
		if holds || failed || slices.Contains(exclude, in.id) {
			continue
		}
		// PLACEMENT_ORDER (ModelMesh.java): fewest models first, then most spare loading threads.
		if target == nil || c.placed[in.id] < c.placed[target.id] ||
			c.placed[in.id] == c.placed[target.id] && in.spareThreads() > target.spareThreads() {
			target = in
		}
	}
	if target == nil {
		// ModelMesh.throwIfLocalLoadNotAllowed
		le := &loadError{msg: "Nowhere available to load"}
		if mr.hasLoadFailure() {
			inst := mr.mostRecentFailure()
			le = &loadError{msg: mr.Fails[inst].Msg, instance: inst}
		}
		return makeStatusInfo(mmesh.ModelStatusInfo_LOADING_FAILED, le, mr, now), nil
	}
	// ModelMesh.loadLocal: the copy is registered before the load runs.
	if mr.InstanceIDs == nil {
		mr.InstanceIDs = map[string]int64{}
	}
	mr.InstanceIDs[target.id] = now
	mr.removeLoadFailure(target.id)
	mr.LastUsed = max(mr.LastUsed, now)
	if err := c.commit(c.putModel(id, mr)); err != nil {
		return nil, err
	}
	c.placed[target.id]++
	c.opts.Logf("mmeshfake: %s/%s: loading model %s in instance %s (%s)", c.namespace, c.service, id, target.id, target.pod)
	after, _ := c.loadEnd(mr, target)
	c.queueLoad(target, loadJob{model: id, start: now, after: after})
	return makeStatusInfo(mmesh.ModelStatusInfo_LOADING, nil, mr, now), nil
}

func hasAll(labels, required []string) bool {
	for _, r := range required {
		if !slices.Contains(labels, r) {
			return false
		}
	}
	return true
}

func (c *cluster) sortedInstances() []*instance {
	out := make([]*instance, 0, len(c.instances))
	for _, id := range sortedKeys(c.instances) {
		out = append(out, c.instances[id])
	}
	return out
}

// scheduleCompletion arranges for the end of the load of model id in instance inst that started
// at start (ms) and ends after that: a failing load then records its failure, and vmodel
// transitions move on.
func (c *cluster) scheduleCompletion(id, inst string, start int64, after time.Duration) {
	key := id + "\x00" + inst
	if t, ok := c.timers[key]; ok {
		t.Stop()
	}
	delay := time.Until(time.UnixMilli(start).Add(after))
	c.timers[key] = time.AfterFunc(max(delay, 0), func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		delete(c.timers, key)
		c.endLoad(id, inst, start)
	})
}

// endLoad is the end of the load of model id in instance inst that started at start (ms): its
// outcome goes to the registry and its loading thread takes the next queued load.
func (c *cluster) endLoad(id, inst string, start int64) {
	if err := c.loadFinished(id, inst, start); err != nil {
		c.opts.Logf("mmeshfake: %s/%s: finishing load of %s in %s: %v", c.namespace, c.service, id, inst, err)
	}
	if in := c.instances[inst]; in != nil && in.running[id] == start {
		c.loadEnded(in, id)
	}
}

// loadFinished runs when a load's time is up. A failing load follows CacheEntry.failed
// (ModelMesh.java v0.12.0): the copy becomes a failure with the loader's message, written to the
// registry at once, and the retry elsewhere follows (scheduleRetry).
func (c *cluster) loadFinished(id, inst string, start int64) error {
	mr, err := c.getModel(id)
	if err != nil || mr == nil || mr.InstanceIDs[inst] != start || !c.copyLive(inst, start) {
		return err // deleted, reloaded or its instance went away meanwhile
	}
	failure := c.loadFailure(id, mr, c.instances[inst])
	if failure == "" {
		return c.processTransitions(id)
	}
	mr.addLoadFailure(inst, nowMs(), failure)
	if err := c.commit(c.putModel(id, mr)); err != nil {
		return err
	}
	c.opts.Logf("mmeshfake: %s/%s: load of model %s failed in instance %s", c.namespace, c.service, id, inst)
	c.scheduleRetry(id, inst)
	return nil
}

// scheduleRetry is the end of CacheEntry.failed: after writing the failure, model-mesh hands
// ensureLoadedInternalAsync(modelId, ..., excludeThisInstance) to its task pool, whose cache-miss
// placement skips instances with recent failures and stops at MAX_LOAD_FAILURES. Until the retry
// registers its copy, getStatus answers LOADING_FAILED, and the controller, woken by the
// failure's registry event, may report FailedToLoad for a model that then loads; Options.RetryDelay
// is that gap.
func (c *cluster) scheduleRetry(id, failedIn string) {
	key := id + "\x00retry\x00" + failedIn
	if t, ok := c.timers[key]; ok {
		t.Stop()
	}
	c.timers[key] = time.AfterFunc(c.opts.RetryDelay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		delete(c.timers, key)
		if err := c.retryLoad(id, failedIn); err != nil {
			c.opts.Logf("mmeshfake: %s/%s: retrying load of %s after its failure in %s: %v", c.namespace, c.service, id, failedIn, err)
		}
	})
}

func (c *cluster) retryLoad(id, failedIn string) error {
	mr, err := c.getModel(id)
	if err != nil || mr == nil {
		return err // deleted meanwhile
	}
	if _, err := c.ensureLoaded(id, mr, []string{failedIn}); err != nil {
		return err
	}
	return c.processTransitions(id)
}

// processTransitions is VModelManager's PendingTransition for every vmodel whose target differs
// from its active model: while the active model has copies, the target is loaded and the vmodel
// switches once it is LOADED, or is marked failed once its load has failed everywhere it may
// run; an active model without copies is replaced at once. The replaced model loses a reference
// and is deleted when it has none left and was registered for auto-deletion. With targets given,
// only vmodels moving to one of them are looked at.
func (c *cluster) processTransitions(targets ...string) error {
	ctx, cancel := etcdCtx()
	defer cancel()
	resp, err := c.etcd.Get(ctx, c.prefix+"vmodels/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		vmid := strings.TrimPrefix(string(kv.Key), c.prefix+"vmodels/")
		var vmr vmodelRecord
		if err := json.Unmarshal(kv.Value, &vmr); err != nil || !vmr.inTransition() || vmr.Failed ||
			len(targets) > 0 && !slices.Contains(targets, vmr.TargetModel) {
			continue
		}
		if err := c.advanceTransition(vmid, &vmr); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) advanceTransition(vmid string, vmr *vmodelRecord) error {
	active, err := c.getModel(vmr.ActiveModel)
	if err != nil {
		return err
	}
	if active != nil && len(active.InstanceIDs) > 0 {
		target, err := c.getModel(vmr.TargetModel)
		if err != nil || target == nil {
			return err
		}
		si, err := c.ensureLoaded(vmr.TargetModel, target, nil)
		if err != nil {
			return err
		}
		switch si.Status {
		case mmesh.ModelStatusInfo_LOADED:
		case mmesh.ModelStatusInfo_LOADING_FAILED:
			vmr.Failed = true
			c.opts.Logf("mmeshfake: %s/%s: vmodel %s: target %s failed to load", c.namespace, c.service, vmid, vmr.TargetModel)
			return c.commit(c.putVModel(vmid, vmr))
		default:
			return nil // still loading: its completion comes back here
		}
	}
	from := vmr.ActiveModel
	vmr.ActiveModel, vmr.Failed = vmr.TargetModel, false
	ops := append([]clientv3.Op{c.putVModel(vmid, vmr)}, c.releaseModel(from, active)...)
	c.opts.Logf("mmeshfake: %s/%s: vmodel %s completed transition from %s to %s", c.namespace, c.service, vmid, from, vmr.TargetModel)
	return c.commit(ops...)
}

// releaseModel is VModelManager.decModelRefsInTxn: one reference fewer; a record left without
// references that was registered with autoDeleteTargetModel is deleted.
func (c *cluster) releaseModel(id string, mr *modelRecord) []clientv3.Op {
	if mr == nil {
		return nil
	}
	if mr.Refs > 0 {
		mr.Refs--
	}
	if mr.Refs == 0 && mr.AutoDel {
		return []clientv3.Op{clientv3.OpDelete(c.modelKey(id))}
	}
	return []clientv3.Op{c.putModel(id, mr)}
}

// addInstance makes in a member of the cluster. Registry entries it holds from an earlier run of
// its container are dropped, as model-mesh's janitor prunes registrations that the instance's
// cache does not hold; entries from its current run (this process restarted) are picked up again.
// Container start times have a resolution of seconds, so a restart seen by this process drops
// every older entry rather than relying on them.
func (c *cluster) addInstance(in *instance) error {
	c.instances[in.id] = in
	cutoff := in.startedMs
	if prev, seen := c.downStart[in.id]; seen && prev != in.containerRun {
		cutoff = nowMs()
	}
	delete(c.downStart, in.id)
	models, err := c.models()
	if err != nil {
		return err
	}
	for _, m := range models {
		id, mr := m.id, m.mr
		start, ok := mr.InstanceIDs[in.id]
		switch {
		case !ok:
		case start < cutoff:
			delete(mr.InstanceIDs, in.id)
			if err := c.commit(c.putModel(id, &mr)); err != nil {
				return err
			}
		default:
			// A copy of the current run, seen again after this process restarted: loaded if its
			// load would have ended by now, else loading for the rest of its time.
			c.placed[in.id]++
			after, _ := c.loadEnd(&mr, in)
			if end := start + after.Milliseconds(); end <= nowMs() {
				c.spans[copyKey(id, in.id)] = loadSpan{start: start, end: end}
				c.scheduleCompletion(id, in.id, start, after)
			} else {
				c.queueLoad(in, loadJob{model: id, start: start, after: time.Duration(end-nowMs()) * time.Millisecond})
			}
		}
	}
	return c.processTransitions()
}

// removeInstance takes an instance out of the cluster. A crashed or unready instance just stops
// answering; its registry entries stay (model-mesh prunes them only after
// ASSUME_INSTANCE_GONE_AFTER_MS, 10 minutes). A deleted pod drains as in ModelMesh.preShutdown:
// its models are loaded on other instances and its own entries are removed once those loads are
// done (at once when there is nowhere else to load them).
func (c *cluster) removeInstance(id string, graceful bool) error {
	in, ok := c.instances[id]
	if !ok {
		return nil
	}
	if in.server != nil {
		in.server.Stop()
		in.server = nil
	}
	if !graceful {
		c.downStart[id] = in.containerRun
		delete(c.instances, id)
		return nil
	}
	in.draining = true
	models, err := c.models()
	if err != nil {
		return err
	}
	var until time.Duration
	for _, m := range models {
		modelID, mr := m.id, m.mr
		if start, held := mr.InstanceIDs[id]; !held || !c.copyLive(id, start) {
			continue
		}
		si, err := c.ensureLoaded(modelID, &mr, []string{id})
		if err != nil {
			return err
		}
		if si.Status == mmesh.ModelStatusInfo_LOADING {
			until = max(until, c.loadDelay(mr.MPath))
		}
	}
	key := "\x00drain\x00" + id
	c.timers[key] = time.AfterFunc(until, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		delete(c.timers, key)
		if err := c.deregister(id); err != nil {
			c.opts.Logf("mmeshfake: %s/%s: removing entries of instance %s: %v", c.namespace, c.service, id, err)
		}
	})
	return nil
}

// deregister removes a drained instance and its registry entries (ModelMesh.deregisterModelAsync).
func (c *cluster) deregister(id string) error {
	in, ok := c.instances[id]
	if !ok || !in.draining {
		return nil
	}
	delete(c.instances, id)
	models, err := c.models()
	if err != nil {
		return err
	}
	for _, m := range models {
		mr := m.mr
		if _, held := mr.InstanceIDs[id]; !held {
			continue
		}
		delete(mr.InstanceIDs, id)
		if err := c.commit(c.putModel(m.id, &mr)); err != nil {
			return err
		}
	}
	return c.processTransitions()
}

// close stops the coordination with other processes, every instance's server and every pending
// timer.
func (c *cluster) close() {
	// Without c.mu: the coordination's goroutines take it.
	if c.stopCoordination != nil {
		c.stopCoordination()
	}
	c.coordination.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, t := range c.timers {
		t.Stop()
	}
	for _, span := range c.spans {
		if span.cancel != nil {
			span.cancel()
		}
	}
	for _, in := range c.instances {
		if in.server != nil {
			in.server.Stop()
		}
	}
}
