package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// HoldLoadingAnnotation set to "true" on an InferenceService keeps its load in Loading until the
// annotation is removed or changed; then the load finishes.
const HoldLoadingAnnotation = "testcluster.asm-modelmesh.io/hold-loading"

var (
	inferenceServicesResource      = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}
	servingRuntimesResource        = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"}
	clusterServingRuntimesResource = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "clusterservingruntimes"}
)

// SimulatorOptions tunes the simulated ModelMesh controller. Zero values take the defaults.
type SimulatorOptions struct {
	// LoadDelay is how long a load takes: Pending for the first half, Loading for the second.
	// Default 300ms.
	LoadDelay time.Duration
	// SlowLoadDelay replaces LoadDelay for storage paths containing SlowPathMarker. Default 20s.
	SlowLoadDelay time.Duration
	// FailPathMarker in a storage path (or storageUri) makes the load end in FailedToLoad with
	// reason ModelLoadFailed. Default "fail/".
	FailPathMarker string
	// SlowPathMarker in a storage path (or storageUri) makes the load take SlowLoadDelay.
	// Default "slow/".
	SlowPathMarker string
	// OmitObservedGeneration leaves status.observedGeneration out, as the real ModelMesh controller
	// does, to prove that waiting code does not depend on it.
	OmitObservedGeneration bool
	// Logf reports unexpected errors (status writes that failed for reasons other than a conflict).
	// Default log.Printf.
	Logf func(format string, args ...any)
}

func (o SimulatorOptions) withDefaults() SimulatorOptions {
	if o.LoadDelay == 0 {
		o.LoadDelay = 300 * time.Millisecond
	}
	if o.SlowLoadDelay == 0 {
		o.SlowLoadDelay = 20 * time.Second
	}
	if o.FailPathMarker == "" {
		o.FailPathMarker = "fail/"
	}
	if o.SlowPathMarker == "" {
		o.SlowPathMarker = "slow/"
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	return o
}

// Simulator stands in for the ModelMesh controller, which cannot run here. It watches
// InferenceServices annotated serving.kserve.io/deploymentMode=ModelMesh in all namespaces and
// writes their whole status through the status subresource, with ModelMesh's field names
// (modelStatus.states, modelStatus.copies, modelStatus.lastFailureInfo.modelRevisionName):
//
//   - each generation loads Pending, then Loading (transitionStatus InProgress), then Loaded
//     (UpToDate); conditions PredictorReady and Ready turn True, and status.url and
//     components.predictor get the modelmesh-serving.<namespace> endpoints, once a model is Loaded;
//   - a new generation while a model is Loaded keeps that model active and Ready, shows the new
//     load in targetModelState, then swaps it in;
//   - a storage path or storageUri containing FailPathMarker ends in FailedToLoad,
//     BlockedByFailedLoad, reason ModelLoadFailed, one failed copy;
//   - a runtime name that no usable (enabled, multiModel) ServingRuntime in the namespace or
//     ClusterServingRuntime carries fails at once with RuntimeNotRecognized; a model format no such
//     runtime supports (autoSelect formats only, when no runtime is named) with NoSupportingRuntime;
//     both are looked at again whenever a runtime changes;
//   - no spec.predictor.model, or not exactly one of storage.path and storageUri, is InvalidSpec
//     with reason InvalidPredictorSpec;
//   - SlowPathMarker makes a load take SlowLoadDelay; HoldLoadingAnnotation keeps it Loading.
type Simulator struct {
	opts            SimulatorOptions
	client          dynamic.Interface
	factory         dynamicinformer.DynamicSharedInformerFactory
	isvcs           cache.GenericLister
	runtimes        cache.GenericLister
	clusterRuntimes cache.GenericLister
	queue           workqueue.TypedDelayingInterface[string]
	cancel          context.CancelFunc
	worker          sync.WaitGroup
	// attempts is owned by the single worker goroutine.
	attempts map[string]*loadAttempt

	loadedMu sync.Mutex
	loadedAt map[string]time.Time // namespace/name → when the status first showing it Loaded was written
}

// StartModelMeshSimulator starts the simulator against the cluster at cfg, whose KServe CRDs must be
// installed. ctx bounds the start only; the simulator runs until Stop.
func StartModelMeshSimulator(ctx context.Context, cfg *rest.Config, opts SimulatorOptions) (*Simulator, error) {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// A plain list first turns missing CRDs into a clear error instead of an endless cache sync.
	for _, gvr := range []schema.GroupVersionResource{inferenceServicesResource, servingRuntimesResource, clusterServingRuntimesResource} {
		if _, err := client.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
			return nil, fmt.Errorf("modelmesh simulator: list %s: %w", gvr.Resource, err)
		}
	}

	s := &Simulator{
		opts:     opts.withDefaults(),
		client:   client,
		factory:  dynamicinformer.NewDynamicSharedInformerFactory(client, 0),
		queue:    workqueue.NewTypedDelayingQueue[string](),
		attempts: map[string]*loadAttempt{},
		loadedAt: map[string]time.Time{},
	}
	isvcInformer := s.factory.ForResource(inferenceServicesResource)
	runtimeInformer := s.factory.ForResource(servingRuntimesResource)
	clusterRuntimeInformer := s.factory.ForResource(clusterServingRuntimesResource)
	s.isvcs, s.runtimes, s.clusterRuntimes = isvcInformer.Lister(), runtimeInformer.Lister(), clusterRuntimeInformer.Lister()

	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := isvcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, err
	}
	// A runtime that appears, changes or goes away can change where any model is placed.
	enqueueAll := func(any) {
		all, _ := s.isvcs.List(labels.Everything())
		for _, obj := range all {
			enqueue(obj)
		}
	}
	for _, informer := range []cache.SharedIndexInformer{runtimeInformer.Informer(), clusterRuntimeInformer.Informer()} {
		if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueueAll,
			UpdateFunc: func(_, obj any) { enqueueAll(obj) },
			DeleteFunc: enqueueAll,
		}); err != nil {
			return nil, err
		}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.factory.Start(runCtx.Done())
	for gvr, synced := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			s.Stop()
			return nil, fmt.Errorf("modelmesh simulator: %s cache did not sync: %w", gvr.Resource, ctx.Err())
		}
	}
	s.worker.Add(1)
	go func() {
		defer s.worker.Done()
		for s.processNext(runCtx) {
		}
	}()
	return s, nil
}

// LoadedAt reports when the simulator last wrote a status that turned namespace/name Loaded: the
// moment from which a client waiting for READY can know, for measuring how soon it does.
func (s *Simulator) LoadedAt(namespace, name string) (time.Time, bool) {
	s.loadedMu.Lock()
	defer s.loadedMu.Unlock()
	at, ok := s.loadedAt[namespace+"/"+name]
	return at, ok
}

// Stop stops watching and writing; statuses stay as last written.
func (s *Simulator) Stop() {
	s.cancel()
	s.queue.ShutDown()
	s.worker.Wait()
	s.factory.Shutdown()
}

func (s *Simulator) processNext(ctx context.Context) bool {
	key, shutdown := s.queue.Get()
	if shutdown {
		return false
	}
	defer s.queue.Done(key)
	if retryIn := s.sync(ctx, key); retryIn > 0 {
		s.queue.AddAfter(key, retryIn)
	}
	return true
}

// sync brings one InferenceService's status to what ModelMesh would show now, and returns when to
// look at it again (0: on its next change).
func (s *Simulator) sync(ctx context.Context, key string) time.Duration {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0
	}
	obj, err := s.isvcs.ByNamespace(namespace).Get(name)
	if err != nil {
		delete(s.attempts, key)
		return 0
	}
	isvc, ok := obj.(*unstructured.Unstructured)
	if !ok {
		s.opts.Logf("modelmesh simulator: InferenceService %s is a %T, want *unstructured.Unstructured", key, obj)
		return 0
	}
	if isvc.GetAnnotations()[deploymentModeAnnotation] != deploymentModeModelMesh || isvc.GetDeletionTimestamp() != nil {
		delete(s.attempts, key)
		return 0
	}

	plan := planLoad(isvc, s.runtimesIn(namespace), s.runtimesIn(""), s.opts)
	now := time.Now()
	attempt := s.attempts[key]
	if attempt == nil || attempt.uid != isvc.GetUID() || attempt.generation != isvc.GetGeneration() || (plan.loads() && !attempt.loading) {
		attempt = &loadAttempt{uid: isvc.GetUID(), generation: isvc.GetGeneration(), started: now, replacesLoaded: activeModelState(isvc) == stateLoaded}
		s.attempts[key] = attempt
	}
	// A spec or runtime problem has no load in flight: once fixed, the load starts from scratch.
	attempt.loading = plan.loads()

	status, next := simulatedStatus(isvc, *attempt, plan, now, s.opts)
	if sameJSON(status, isvc.Object["status"]) {
		return next
	}
	updated := isvc.DeepCopy()
	updated.Object["status"] = status
	_, err = s.client.Resource(inferenceServicesResource).Namespace(namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	switch {
	case err == nil:
		if activeModelState(updated) == stateLoaded && activeModelState(isvc) != stateLoaded {
			s.loadedMu.Lock()
			s.loadedAt[key] = time.Now()
			s.loadedMu.Unlock()
		}
		return next
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		// The informer brings the newer object (or the deletion) shortly.
		return 50 * time.Millisecond
	case ctx.Err() != nil:
		return 0
	default:
		s.opts.Logf("modelmesh simulator: update status of InferenceService %s: %v", key, err)
		return time.Second
	}
}

// runtimesIn lists the ServingRuntimes of a namespace, or the ClusterServingRuntimes for "".
func (s *Simulator) runtimesIn(namespace string) []servingRuntime {
	var objs []runtime.Object
	if namespace == "" {
		objs, _ = s.clusterRuntimes.List(labels.Everything())
	} else {
		objs, _ = s.runtimes.ByNamespace(namespace).List(labels.Everything())
	}
	runtimes := make([]servingRuntime, 0, len(objs))
	for _, obj := range objs {
		rt, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue // not a runtime the dynamic informer decoded: nothing to place models on
		}
		runtimes = append(runtimes, servingRuntimeFrom(rt))
	}
	// A stable order keeps the chosen runtime, and so the status, from flapping between syncs.
	slices.SortFunc(runtimes, func(a, b servingRuntime) int { return strings.Compare(a.name, b.name) })
	return runtimes
}

// sameJSON compares as the API server would store both: numbers and map key order do not matter.
func sameJSON(a, b any) bool {
	aJSON, errA := json.Marshal(a)
	bJSON, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(aJSON, bJSON)
}
