package mmeshfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

// Process mode: one model-mesh instance per process, run as the "mm" container of a runtime Pod
// (cmd/model-mesh), configured as the real container is and driving the runtime next to it over
// its ModelRuntime API. The registry code is the in-process mode's; only where loads happen
// (runtimeload.go) and inference forwarding (forward.go) are its own.

// Ports of the mm container (modelmesh-serving v0.12.0 config/internal/base/deployment.yaml.tmpl:
// grpc containerPort from MM_SVC_GRPC_PORT, the readiness and liveness probes' httpGet port 8089)
// and model-mesh's default runtime port (SidecarModelMesh.DEFAULT_GRPC_PORT).
const (
	defaultServicePort = "8033"
	ProbePort          = 8089
	defaultRuntimePort = "8085"
)

// InstanceOptions is what model-mesh reads from its container's environment and mounts.
type InstanceOptions struct {
	ServiceName         string   // MM_SERVICE_NAME
	Port                string   // MM_SVC_GRPC_PORT
	Labels              []string // MM_LABELS, comma-separated
	KVStorePrefix       string   // MM_KVSTORE_PREFIX
	DefaultVModelOwner  string   // MM_DEFAULT_VMODEL_OWNER
	TypeConstraintsPath string   // MM_TYPE_CONSTRAINTS_PATH (the tc-config mount)
	DataplaneConfigPath string   // MM_DATAPLANE_CONFIG_PATH (the tc-config mount)
	// EtcdEndpoints and RootPrefix come from KV_STORE: "etcd:<file>" names the etcd-config
	// Secret's mounted key, a JSON document with "endpoints" (comma-separated) and "root_prefix".
	EtcdEndpoints []string
	RootPrefix    string
	RuntimeAddr   string // localhost:INTERNAL_GRPC_PORT, the runtime's ModelRuntime API
	ServingAddr   string // localhost:INTERNAL_SERVING_GRPC_PORT, its inference API (RuntimeAddr when unset)
	PodName       string // WKUBE_POD_NAME; the instance id is its last 12 characters (start.sh)
	Location      string // MM_LOCATION, the node's IP
	ProbePort     int    // ProbePort
	Logf          func(string, ...any)
}

// InstanceOptionsFromEnv reads InstanceOptions as model-mesh v0.12.0 reads its environment, with
// its defaults: MM_SVC_GRPC_PORT 8033, MM_KVSTORE_PREFIX tas-runtime, INTERNAL_GRPC_PORT 8085.
// The UDS variants (INTERNAL_GRPC_SOCKET_PATH...) and TLS are not imitated and are refused.
func InstanceOptionsFromEnv(getenv func(string) string) (InstanceOptions, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	o := InstanceOptions{
		ServiceName: getenv("MM_SERVICE_NAME"), Port: env("MM_SVC_GRPC_PORT", defaultServicePort),
		KVStorePrefix: env("MM_KVSTORE_PREFIX", "tas-runtime"), DefaultVModelOwner: getenv("MM_DEFAULT_VMODEL_OWNER"),
		TypeConstraintsPath: getenv("MM_TYPE_CONSTRAINTS_PATH"), DataplaneConfigPath: getenv("MM_DATAPLANE_CONFIG_PATH"),
		PodName: env("WKUBE_POD_NAME", getenv("HOSTNAME")), Location: getenv("MM_LOCATION"), ProbePort: ProbePort,
	}
	var errs []error
	if o.ServiceName == "" {
		errs = append(errs, errors.New("MM_SERVICE_NAME is not set"))
	}
	if o.PodName == "" {
		errs = append(errs, errors.New("neither WKUBE_POD_NAME nor HOSTNAME is set"))
	}
	for _, l := range strings.Split(getenv("MM_LABELS"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			o.Labels = append(o.Labels, l)
		}
	}
	for _, name := range []string{"INTERNAL_GRPC_SOCKET_PATH", "INTERNAL_SERVING_GRPC_SOCKET_PATH", "MM_TLS_KEY_CERT_PATH"} {
		if getenv(name) != "" {
			errs = append(errs, fmt.Errorf("%s is set: the stand-in does not imitate it", name))
		}
	}
	runtimePort := env("INTERNAL_GRPC_PORT", defaultRuntimePort)
	o.RuntimeAddr = net.JoinHostPort("localhost", runtimePort)
	o.ServingAddr = net.JoinHostPort("localhost", env("INTERNAL_SERVING_GRPC_PORT", runtimePort))
	kv, ok := strings.CutPrefix(getenv("KV_STORE"), "etcd:")
	if !ok || !strings.HasPrefix(kv, "/") {
		errs = append(errs, fmt.Errorf("KV_STORE=%q: want etcd:<path of the etcd-config Secret's key>", getenv("KV_STORE")))
	} else if err := o.readEtcdConnection(kv); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

// readEtcdConnection reads the etcd-config Secret's etcd_connection key as model-mesh's
// EtcdUtilsFactory does (fields endpoints and root_prefix; modelmesh-serving docs/configuration/etcd).
func (o *InstanceOptions) readEtcdConnection(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("KV_STORE: %w", err)
	}
	var conn struct {
		Endpoints  string `json:"endpoints"`
		RootPrefix string `json:"root_prefix"`
	}
	if err := json.Unmarshal(raw, &conn); err != nil {
		return fmt.Errorf("KV_STORE %s: %w", path, err)
	}
	for _, ep := range strings.Split(conn.Endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.EtcdEndpoints = append(o.EtcdEndpoints, ep)
		}
	}
	if len(o.EtcdEndpoints) == 0 {
		return fmt.Errorf("KV_STORE %s: no endpoints", path)
	}
	o.RootPrefix = conn.RootPrefix
	return nil
}

// RunInstance runs one model-mesh instance until ctx ends, in model-mesh's order
// (SidecarModelMesh.startup, ModelMesh.initialize): it waits for the runtime's runtimeStatus to
// say READY and takes its loading concurrency, loading timeout and method infos from it; joins
// the cluster's registry in etcd and registers itself in the instances table; then serves the
// external API and inference on Port and reports ready on ProbePort.
func RunInstance(ctx context.Context, o InstanceOptions) error {
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: o.EtcdEndpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer func() { _ = etcd.Close() }()
	// model-mesh resolves "localhost" as the JVM does, through the system's hosts file
	// (NettyChannelBuilder.forAddress("localhost", port) in SidecarModelMesh.buildLocalChannel).
	// gRPC-Go's default dns resolver would also ask DNS (a TXT record for the service config),
	// which in a Pod whose nameserver does not answer costs seconds per connection; passthrough
	// leaves the name to the dialer, which reads /etc/hosts first.
	runtime, err := puller.Dial("passthrough:///" + o.RuntimeAddr)
	if err != nil {
		return err
	}
	defer runtime.Stop()
	serving, err := grpc.NewClient("passthrough:///"+o.ServingAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(puller.Codec{})))
	if err != nil {
		return err
	}
	defer func() { _ = serving.Close() }()

	var ready atomic.Bool
	probes := &http.Server{Addr: ":" + strconv.Itoa(o.ProbePort), ReadHeaderTimeout: 5 * time.Second, Handler: probeHandler(&ready)}
	probeLis, err := net.Listen("tcp", probes.Addr)
	if err != nil {
		return err
	}
	go func() { _ = probes.Serve(probeLis) }()
	defer func() { _ = probes.Close() }()

	st, err := waitRuntimeReady(ctx, runtime, o.Logf)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", ":"+o.Port)
	if err != nil {
		return err
	}
	opts := Options{Logf: o.Logf}.withDefaults()
	// EtcdUtilsFactory.pathToKey: root prefix + "/" + KV_STORE_PREFIX + "/" + service + "/".
	prefix := o.RootPrefix + "/" + o.KVStorePrefix + "/" + o.ServiceName + "/"
	constraints := func() map[string][]string {
		if o.TypeConstraintsPath == "" {
			return nil
		}
		raw, err := os.ReadFile(o.TypeConstraintsPath)
		if err != nil {
			o.Logf("mmeshfake: type constraints: %v", err)
			return nil
		}
		return parseTypeConstraints(raw, o.Logf)
	}
	c := newCluster("", o.ServiceName, prefix, o.DefaultVModelOwner, etcd, opts, constraints, func(string) map[string][]byte { return nil })
	defer c.close()
	rpcs, err := readDataplaneConfig(o.DataplaneConfigPath)
	if err != nil {
		return err
	}
	in := &instance{
		id: instanceID(o.PodName), pod: o.PodName, addr: lis.Addr().String(), labels: o.Labels,
		containerRun: containerRun{startedMs: nowMs()}, runtime: runtime, running: map[string]int64{},
		loadTimeout:    time.Duration(st.ModelLoadingTimeoutMs) * time.Millisecond,
		loadingThreads: max(int(st.MaxLoadingConcurrency), 1),
	}
	in.server = grpc.NewServer(grpc.ForceServerCodec(rawOrProto{}),
		grpc.UnknownServiceHandler((&forwarder{c: c, in: in, serving: serving, rpcs: rpcs, inject: st.MethodInfos}).handle))
	mmesh.RegisterModelMeshServer(in.server, &api{c: c})

	lease, err := c.join(ctx, in, o.Location, st.CapacityInBytes)
	if err != nil {
		return err
	}
	o.Logf("mmeshfake: instance %s (%s) of %s serves %s, runtime %s (%s), labels %v", in.id, o.PodName, o.ServiceName,
		in.addr, o.RuntimeAddr, st.RuntimeVersion, in.labels)
	served := make(chan error, 1)
	go func() { served <- in.server.Serve(lis) }()
	ready.Store(true)
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	ready.Store(false)
	in.server.Stop()
	// The instance leaves the instances table at once rather than at its session's expiry.
	revokeCtx, cancel := etcdCtx()
	defer cancel()
	_, revokeErr := etcd.Revoke(revokeCtx, lease)
	return errors.Join(err, revokeErr)
}

// waitRuntimeReady asks the runtime's runtimeStatus until it is READY, as
// SidecarModelMesh.ExternalModelLoader does before the instance takes any load.
func waitRuntimeReady(ctx context.Context, runtime *puller.Puller, logf func(string, ...any)) (puller.RuntimeStatus, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := runtime.RuntimeStatus(callCtx)
		cancel()
		if err == nil && st.Status == puller.RuntimeStatusReady {
			return st, nil
		}
		logf("mmeshfake: runtime %s not READY yet: status %d, %v", runtime.Addr, st.Status, err)
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("runtime %s not READY: %w (last: status %d, %v)", runtime.Addr, ctx.Err(), st.Status, err)
		case <-tick.C:
		}
	}
}

// instanceRecord is what this instance writes of model-mesh's InstanceRecord (InstanceRecord.java
// v0.12.0: JSON, Include.NON_DEFAULT) to the instances table, <prefix>instances/<instance id>.
type instanceRecord struct {
	StartTime      int64    `json:"startTime"`
	Location       string   `json:"loc,omitempty"`
	Labels         []string `json:"labels,omitempty"`
	Capacity       int64    `json:"cap,omitempty"`
	LoadingThreads int      `json:"lThreads,omitempty"`
}

// sessionTTL is how long the instance's record outlives the process without its keep-alives: the
// record is a kv-utils SessionNode, an etcd key bound to the instance's lease
// (ModelMesh.initialize: kvUtilsFactory.newSessionNode(instanceNodePath, ...)).
const sessionTTL = 10

// registerInstance writes in's record to the instances table under a lease kept alive until ctx
// ends, and returns the lease.
func registerInstance(ctx context.Context, etcd *clientv3.Client, prefix string, in *instance, location string, capacity uint64) (clientv3.LeaseID, error) {
	callCtx, cancel := etcdCtx()
	defer cancel()
	lease, err := etcd.Grant(callCtx, sessionTTL)
	if err != nil {
		return 0, fmt.Errorf("etcd: %w", err)
	}
	labels := slices.Sorted(slices.Values(in.labels)) // InstanceRecord keeps its labels sorted
	rec := instanceRecord{StartTime: in.startedMs, Location: location, Labels: labels,
		Capacity: int64(capacity), LoadingThreads: in.loadingThreads}
	if _, err := etcd.Put(callCtx, prefix+"instances/"+in.id, string(marshalRecord(rec)), clientv3.WithLease(lease.ID)); err != nil {
		return 0, fmt.Errorf("etcd: %w", err)
	}
	alive, err := etcd.KeepAlive(ctx, lease.ID)
	if err != nil {
		return 0, fmt.Errorf("etcd: %w", err)
	}
	go func() {
		for range alive {
		}
	}()
	return lease.ID, nil
}

// join makes in, this process's instance, a member of c until ctx ends, in model-mesh's order
// (ModelMesh.initialize): its record in the instances table, the table's watch and the leader
// election (coordinate.go), then its registry entries and the reaper, which runs while this
// process leads. It returns the lease of in's record.
func (c *cluster) join(ctx context.Context, in *instance, location string, capacity uint64) (clientv3.LeaseID, error) {
	lease, err := registerInstance(ctx, c.etcd, c.prefix, in, location, capacity)
	if err != nil {
		return 0, err
	}
	if err := c.coordinate(ctx, in.id); err != nil {
		return lease, fmt.Errorf("etcd: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startReaper(c.opts.ReaperFirst)
	return lease, c.addInstance(in)
}

// probeHandler answers the mm container's probes: /ready once the instance serves, /live always.
func probeHandler(ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/live", func(http.ResponseWriter, *http.Request) {})
	return mux
}

// rawOrProto is the server's codec: the external API's messages are protobuf messages; the
// requests it forwards are kept as their wire bytes (*[]byte), as model-mesh keeps them as ByteBufs.
type rawOrProto struct{}

func (rawOrProto) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("rawOrProto: %T is no message", v)
	}
	return proto.Marshal(m)
}

func (rawOrProto) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append((*b)[:0], data...)
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rawOrProto: %T is no message", v)
	}
	return proto.Unmarshal(data, m)
}

func (rawOrProto) Name() string { return "proto" }
