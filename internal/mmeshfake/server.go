package mmeshfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Names the modelmesh-serving controller v0.12.0 gives the model-mesh container and what it
// mounts into it (controllers/modelmesh/const.go, constraints.go, etcd.go and
// config/internal/base/deployment.yaml.tmpl).
const (
	mmContainer        = "mm"
	etcdVolume         = "etcd-config"
	etcdSecretKey      = "etcd_connection"
	typeConstraintsVol = "tc-config"
	typeConstraintsKey = "type_constraints"
	storageVolume      = "storage-config"
)

// Options configures Start. Zero durations and markers take the defaults below.
type Options struct {
	// Kube is the cluster whose runtime pods are served.
	Kube *rest.Config
	// EtcdEndpoints is the etcd that holds model-mesh's registry. The test stack has one etcd, so
	// these endpoints are used instead of the "endpoints" field of each namespace's etcd secret;
	// the root prefix does come from the secret.
	EtcdEndpoints []string
	// LoadDelay is how long a model load takes. Default 300ms.
	LoadDelay time.Duration
	// SlowLoadDelay replaces LoadDelay for storage paths containing SlowPathMarker. Default 20s.
	SlowLoadDelay time.Duration
	// FailPathMarker in a storage path makes its load fail with the puller's error. Default "fail/".
	FailPathMarker string
	// FailOncePathMarker in a storage path makes its load fail with the puller's error in the first
	// instance that tries it, as where one Pod cannot reach the storage, and succeed in the next.
	// Default "fail-once/".
	FailOncePathMarker string
	// RetryDelay is how long model-mesh takes to place the retry of a failed load on another
	// instance; meanwhile it reports the model LOADING_FAILED. Default 100ms.
	RetryDelay time.Duration
	// SlowPathMarker in a storage path makes its load take SlowLoadDelay. Default "slow/".
	SlowPathMarker string
	// ReaperFirst and ReaperPeriod time the leader's reaper (ModelMesh.leaderChange: first run 2
	// minutes after taking the lead, then every REGISTRY_REAPER_FREQ_MINS, 7), which also loads
	// models that have no copy, such as one no instance could take when it was added. Defaults 2m, 7m.
	ReaperFirst, ReaperPeriod time.Duration
	// TypeConstraintsRefresh is how long after the controller changes the type-constraints
	// ConfigMap model-mesh sees the change: it reads the file the kubelet projects from it, which
	// the kubelet rewrites at its next sync of the Pod (syncFrequency, 1 minute by default, plus its
	// ConfigMap cache; Kubernetes docs, "Mounted ConfigMaps are updated automatically"). Until then
	// a model of a type the old constraints lack is placed by "_default": [_no_runtime], so fails
	// with the no-home message. Zero sees changes at once.
	TypeConstraintsRefresh time.Duration
	// Logf reports instances starting and stopping, loads, and errors. Default log.Printf.
	Logf func(string, ...any)
}

func (o Options) withDefaults() Options {
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
	if o.FailOncePathMarker == "" {
		o.FailOncePathMarker = "fail-once/"
	}
	if o.ReaperFirst == 0 {
		o.ReaperFirst = 2 * time.Minute
	}
	if o.ReaperPeriod == 0 {
		o.ReaperPeriod = 7 * time.Minute
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 100 * time.Millisecond
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	return o
}

// Server runs model-mesh for every ready runtime pod of a cluster.
type Server struct {
	opts     Options
	etcd     *clientv3.Client
	kube     kubernetes.Interface
	pods     listersv1.PodLister
	secrets  listersv1.SecretLister
	cfgMaps  listersv1.ConfigMapLister
	queue    workqueue.TypedRateLimitingInterface[string]
	cancel   context.CancelFunc
	workerWG sync.WaitGroup
	stopOnce sync.Once

	mu sync.Mutex
	// clusters by namespace + "/" + service name; owned by the single worker goroutine once
	// started, and by Stop afterwards.
	clusters map[string]*cluster
}

// Start connects to etcd and the cluster and serves model-mesh at each ready runtime pod until
// Stop. ctx bounds the start only.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	if opts.Kube == nil || len(opts.EtcdEndpoints) == 0 {
		return nil, errors.New("mmeshfake: Kube and EtcdEndpoints are required")
	}
	kube, err := kubernetes.NewForConfig(opts.Kube)
	if err != nil {
		return nil, err
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: opts.EtcdEndpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("mmeshfake: etcd: %w", err)
	}
	// etcd's client dials lazily: check the connection now, so that a wrong endpoint fails Start.
	if _, err := etcd.Get(ctx, "/__mmeshfake_connection_check"); err != nil {
		return nil, errors.Join(fmt.Errorf("mmeshfake: etcd %v: %w", opts.EtcdEndpoints, err), etcd.Close())
	}
	s := &Server{
		opts: opts, etcd: etcd, kube: kube, clusters: map[string]*cluster{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	factory := informers.NewSharedInformerFactory(kube, 0)
	podInf, secretInf, cmInf := factory.Core().V1().Pods(), factory.Core().V1().Secrets(), factory.Core().V1().ConfigMaps()
	s.pods, s.secrets, s.cfgMaps = podInf.Lister(), secretInf.Lister(), cmInf.Lister()
	enqueue := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.enqueue(obj) },
		UpdateFunc: func(_, obj any) { s.enqueue(obj) },
		DeleteFunc: func(obj any) { s.enqueue(obj) },
	}
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), secretInf.Informer(), cmInf.Informer()} {
		if _, err := inf.AddEventHandler(enqueue); err != nil {
			return nil, errors.Join(err, etcd.Close())
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	factory.Start(runCtx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			factory.Shutdown()
			return nil, errors.Join(fmt.Errorf("mmeshfake: %v informer did not sync: %w", typ, ctx.Err()), etcd.Close())
		}
	}
	s.workerWG.Add(1)
	go func() {
		defer s.workerWG.Done()
		defer factory.Shutdown()
		for s.processNext() {
		}
	}()
	go func() {
		<-runCtx.Done()
		s.queue.ShutDown()
	}()
	return s, nil
}

// Stop ends every instance's gRPC server and pending load; the registry stays in etcd. Calling it
// again does nothing.
func (s *Server) Stop() { s.stopOnce.Do(s.stop) }

func (s *Server) stop() {
	s.cancel()
	s.workerWG.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clusters {
		c.close()
	}
	s.clusters = map[string]*cluster{}
	if err := s.etcd.Close(); err != nil {
		s.opts.Logf("mmeshfake: closing etcd client: %v", err)
	}
}

func (s *Server) enqueue(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if o, ok := obj.(interface{ GetNamespace() string }); ok {
		s.queue.Add(o.GetNamespace())
	}
}

func (s *Server) processNext() bool {
	ns, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(ns)
	if err := s.syncNamespace(ns); err != nil {
		s.opts.Logf("mmeshfake: namespace %s: %v (retrying)", ns, err)
		s.queue.AddRateLimited(ns)
		return true
	}
	s.queue.Forget(ns)
	return true
}

// podSpec is what model-mesh reads from its container's environment and mounts
// (deployment.yaml.tmpl and controllers/modelmesh: MM_SERVICE_NAME, MM_SVC_GRPC_PORT, MM_LABELS,
// MM_KVSTORE_PREFIX, MM_DEFAULT_VMODEL_OWNER, the etcd secret and type-constraints volumes).
type podSpec struct {
	service, port, labels, kvPrefix, owner string
	etcdSecret, tcConfigMap, storageSecret string
	loadTimeout                            time.Duration
	loadingThreads                         int
}

// modelMeshPod returns the model-mesh settings of a pod the controller made for a runtime, or
// false for any other pod.
func modelMeshPod(pod *corev1.Pod) (podSpec, bool) {
	var spec podSpec
	found := false
	for _, c := range pod.Spec.Containers {
		if c.Name != mmContainer {
			spec.loadTimeout = max(spec.loadTimeout, adapterLoadTimeout(c))
			spec.loadingThreads = max(spec.loadingThreads, loadingConcurrency(c))
			continue
		}
		for _, e := range c.Env {
			switch e.Name {
			case "MM_SERVICE_NAME":
				spec.service, found = e.Value, true
			case "MM_SVC_GRPC_PORT":
				spec.port = e.Value
			case "MM_LABELS":
				spec.labels = e.Value
			case "MM_KVSTORE_PREFIX":
				spec.kvPrefix = e.Value
			case "MM_DEFAULT_VMODEL_OWNER":
				spec.owner = e.Value
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Name == etcdVolume && v.Secret != nil:
			spec.etcdSecret = v.Secret.SecretName
		case v.Name == typeConstraintsVol && v.ConfigMap != nil:
			spec.tcConfigMap = v.ConfigMap.Name
		case v.Name == storageVolume && v.Secret != nil:
			spec.storageSecret = v.Secret.SecretName
		}
	}
	if spec.kvPrefix == "" {
		spec.kvPrefix = "tas-runtime" // ModelMesh's default when MM_KVSTORE_PREFIX is unset
	}
	return spec, found && spec.service != "" && spec.port != ""
}

// adapterLoadTimeout is the loading timeout a built-in adapter container reports to model-mesh
// (RuntimeStatusResponse.modelLoadingTimeoutMs, from LOADTIME_TIMEOUT, which the controller sets
// from builtInAdapter.modelLoadingTimeoutMillis: modelmesh-runtime-adapter server/config.go,
// modelmesh-serving controllers/modelmesh/runtime.go). model-mesh refuses to start with less than
// 100 ms (ModelMesh.initialize); the stand-in then loads without a timeout, as it does for a
// container that is no adapter.
func adapterLoadTimeout(c corev1.Container) time.Duration {
	for _, e := range c.Env {
		if e.Name != "LOADTIME_TIMEOUT" {
			continue
		}
		if ms, err := strconv.Atoi(e.Value); err == nil && ms >= 100 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return 0
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerRun tells one run of the mm container from the next. Registry entries of an instance
// that are older than its start belong to an earlier run, whose memory is gone. Start times have a
// resolution of seconds, so a restart within the same second shows only in the kubelet's restart
// count.
type containerRun struct {
	startedMs int64
	restarts  int32
}

// runOf is the mm container's current run (from the pod's start when the container's is unknown).
func runOf(pod *corev1.Pod) containerRun {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == mmContainer && cs.State.Running != nil {
			return containerRun{startedMs: cs.State.Running.StartedAt.UnixMilli(), restarts: cs.RestartCount}
		}
	}
	if pod.Status.StartTime != nil {
		return containerRun{startedMs: pod.Status.StartTime.UnixMilli()}
	}
	return containerRun{}
}

// instanceID is model-mesh's instance id for a pod: the last 12 characters of its name (start.sh).
func instanceID(podName string) string {
	if len(podName) <= 12 {
		return podName
	}
	return podName[len(podName)-12:]
}

// syncNamespace makes the running instances of ns match its ready model-mesh pods.
func (s *Server) syncNamespace(ns string) error {
	pods, err := s.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	type wanted struct {
		pod  *corev1.Pod
		spec podSpec
		addr string
	}
	want := map[string]wanted{} // cluster key + "/" + instance id
	var errs []error
	for _, pod := range pods {
		spec, ok := modelMeshPod(pod)
		if !ok || pod.DeletionTimestamp != nil || !podReady(pod) {
			continue
		}
		ip := net.ParseIP(pod.Status.PodIP)
		if ip == nil {
			continue // no sandbox yet: nothing could reach it
		}
		want[ns+"/"+spec.service+"/"+instanceID(pod.Name)] = wanted{pod: pod, spec: spec, addr: net.JoinHostPort(ip.String(), spec.port)}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// Instances whose pod is gone, unready or changed address stop first.
	for key, c := range s.clusters {
		if c.namespace != ns {
			continue
		}
		c.mu.Lock()
		for id, in := range c.instances {
			w, ok := want[key+"/"+id]
			if in.draining || ok && w.addr == in.addr && w.pod.Name == in.pod && runOf(w.pod) == in.containerRun {
				continue
			}
			pod, err := s.pods.Pods(ns).Get(in.pod)
			graceful := apierrors.IsNotFound(err) || err == nil && pod.DeletionTimestamp != nil
			s.opts.Logf("mmeshfake: %s: instance %s (pod %s) stops (deleted: %v)", key, id, in.pod, graceful)
			if err := c.removeInstance(id, graceful); err != nil {
				errs = append(errs, err)
			}
		}
		c.mu.Unlock()
	}
	for key, w := range want {
		ckey := ns + "/" + w.spec.service
		id := instanceID(w.pod.Name)
		if c := s.clusters[ckey]; c != nil {
			c.mu.Lock()
			_, running := c.instances[id]
			c.mu.Unlock()
			if running {
				continue
			}
		}
		if err := s.startInstance(ckey, w.pod, w.spec, w.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// startInstance starts model-mesh for one pod. Like the kubelet, which does not start a container
// whose secret or ConfigMap volume is missing, it waits for the etcd secret and the
// type-constraints ConfigMap.
func (s *Server) startInstance(ckey string, pod *corev1.Pod, spec podSpec, addr string) error {
	secret, err := s.secrets.Secrets(pod.Namespace).Get(spec.etcdSecret)
	if err != nil {
		return fmt.Errorf("etcd secret %q: %w", spec.etcdSecret, err)
	}
	var etcdCfg struct {
		RootPrefix string `json:"root_prefix"`
	}
	if err := json.Unmarshal(secret.Data[etcdSecretKey], &etcdCfg); err != nil {
		return fmt.Errorf("etcd secret %q key %s: %w", spec.etcdSecret, etcdSecretKey, err)
	}
	if _, err := s.cfgMaps.ConfigMaps(pod.Namespace).Get(spec.tcConfigMap); err != nil {
		return fmt.Errorf("type constraints ConfigMap %q: %w", spec.tcConfigMap, err)
	}
	// EtcdUtilsFactory.pathToKey: root prefix + "/" + KV_STORE_PREFIX + "/" + service + "/".
	prefix := etcdCfg.RootPrefix + "/" + spec.kvPrefix + "/" + spec.service + "/"
	c := s.clusters[ckey]
	if c == nil {
		ns, cmName := pod.Namespace, spec.tcConfigMap
		mounted := newProjectedFile(s.opts.TypeConstraintsRefresh, func() map[string][]string {
			return s.typeConstraints(ns, cmName)
		})
		c = newCluster(ns, spec.service, prefix, spec.owner, s.etcd, s.opts, mounted.current, func(name string) map[string][]byte {
			secret, err := s.secrets.Secrets(ns).Get(name)
			if err != nil {
				return nil
			}
			return secret.Data
		})
		s.clusters[ckey] = c
		c.mu.Lock()
		c.startReaper(s.opts.ReaperFirst)
		c.mu.Unlock()
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	in := &instance{
		id: instanceID(pod.Name), pod: pod.Name, addr: addr, containerRun: runOf(pod), loadTimeout: spec.loadTimeout,
		storageSecret: spec.storageSecret, loadingThreads: max(spec.loadingThreads, 1), running: map[string]int64{},
		server: grpc.NewServer(),
	}
	if spec.labels != "" {
		for _, l := range strings.Split(spec.labels, ",") {
			in.labels = append(in.labels, strings.TrimSpace(l))
		}
	}
	mmesh.RegisterModelMeshServer(in.server, &api{c: c})
	// The instance joins the cluster before it answers: a client that reaches it must find it among
	// the placement candidates, as model-mesh registers an instance before it reports ready.
	c.mu.Lock()
	if c.prefix != prefix {
		s.opts.Logf("mmeshfake: %s: pod %s has root prefix %q, the cluster uses %q", ckey, pod.Name, prefix, c.prefix)
	}
	s.opts.Logf("mmeshfake: %s: instance %s (pod %s) serves %s with labels %v", ckey, in.id, pod.Name, addr, in.labels)
	err = c.addInstance(in)
	c.mu.Unlock()
	srv := in.server
	go func() {
		if err := srv.Serve(lis); err != nil {
			s.opts.Logf("mmeshfake: %s: serving %s: %v", ckey, addr, err)
		}
	}()
	return err
}

// typeConstraints reads model-mesh's type constraints from the ConfigMap the controller writes
// (ClusterConfig.addConstraints: JSON type → {"required": [...], "preferred": [...]}); model-mesh
// reads it from the mounted file and follows its changes (TypeConstraintManager, ConfigMapKeyFileWatcher).
func (s *Server) typeConstraints(ns, name string) map[string][]string {
	cm, err := s.cfgMaps.ConfigMaps(ns).Get(name)
	if err != nil {
		return nil
	}
	raw, ok := cm.BinaryData[typeConstraintsKey]
	if !ok {
		raw = []byte(cm.Data[typeConstraintsKey])
	}
	return parseTypeConstraints(raw, func(format string, args ...any) {
		s.opts.Logf("mmeshfake: ConfigMap %s/%s: "+format, append([]any{ns, name}, args...)...)
	})
}

// parseTypeConstraints reads the type constraints document: type → required labels.
func parseTypeConstraints(raw []byte, logf func(string, ...any)) map[string][]string {
	var parsed map[string]struct {
		Required []string `json:"required"`
	}
	if err := json.Unmarshal(raw, &parsed); err != nil {
		logf("%v", err)
		return nil
	}
	out := make(map[string][]string, len(parsed))
	for typ, tc := range parsed {
		// ConfigTypeConstraints keeps labels sorted and deduplicated.
		req := append([]string(nil), tc.Required...)
		slices.Sort(req)
		out[typ] = slices.Compact(req)
	}
	return out
}
