// Command bench measures the provider at scale (issue 9) with the real terraform CLI against the
// local stack: N asm_inference_service (+ N/10 asm_serving_runtime) are applied, planned with and
// without refresh, and destroyed, and the figures are compared with the targets.
//
//	KUBEBUILDER_ASSETS=$(tools/k8s/build.sh) go run ./bench -n 50,200 -runs 3 -out bench/RESULTS.md
//
// An entry N:R runs that N R times instead of -runs: -n 50,200,800:1 adds one run at N=800.
//
// The provider talks to the kube-apiserver through a counting reverse proxy in this process, so
// every request is attributed to the provider by method and path: the apiserver's own
// apiserver_request_total has no path or client label, so it cannot tell /api from /openapi/v2
// nor the provider from the ModelMesh controller. The apiserver metric is still scraped as a
// cross-check of the GETs a refresh makes.
//
// Provider start is timed twice: through the CLI (`terraform providers schema -json`, which
// includes terraform's own start) and as the provider alone, from exec'ing the binary to the
// GetProviderSchema response over go-plugin, the way terraform launches it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

// providerVersion is a plain release number: Terraform never selects a pre-release from a mirror
// without an exact constraint (as in scripts/demo.sh).
const providerVersion = "0.0.1"

var isvcGVR = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

func main() {
	ns := flag.String("n", "50,200", "comma-separated numbers of InferenceServices; N:R runs that N R times instead of -runs")
	runs := flag.Int("runs", 3, "runs per N; figures are medians")
	out := flag.String("out", "bench/RESULTS.md", "Markdown report to write")
	terraform := flag.String("terraform", filepath.Join(os.Getenv("HOME"), ".cache/terraform-provider-asm/terraform-v1.5.7/terraform"), "terraform CLI")
	loadDelay := flag.Duration("load-delay", 10*time.Millisecond, "model-mesh stand-in's load time (a model loads this long after model-mesh is asked to)")
	noWait := flag.Bool("nowait", true, "also time an apply with wait_for_ready = false, for the READY-wait overhead")
	flag.Parse()
	sizes, runsOf, err := parseSizes(*ns, *runs)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	if err := run(sizes, runsOf, *out, *terraform, *loadDelay, *noWait); err != nil {
		log.Fatal(err)
	}
	log.Printf("bench done in %s; report in %s", time.Since(start).Round(time.Second), *out)
}

// parseSizes returns the Ns in order and how many runs each gets.
func parseSizes(s string, defaultRuns int) ([]int, map[int]int, error) {
	var sizes []int
	runsOf := map[int]int{}
	for _, f := range strings.Split(s, ",") {
		size, runs, hasRuns := strings.Cut(strings.TrimSpace(f), ":")
		n, err := strconv.Atoi(size)
		r := defaultRuns
		if hasRuns && err == nil {
			r, err = strconv.Atoi(runs)
		}
		if err != nil || n < 1 || r < 1 || runsOf[n] > 0 {
			return nil, nil, fmt.Errorf("bad -n entry %q", f)
		}
		sizes, runsOf[n] = append(sizes, n), r
	}
	return sizes, runsOf, nil
}

// sample is one run at one N.
type sample struct {
	apply, applyNoWait, plan, planNoRefresh, destroy, schema, floor time.Duration
	peakRSS                                                         int64 // bytes, the provider process at its largest over all phases
	stateBytes                                                      int64
	planRequests                                                    proxyStats // provider requests during the refreshing plan
	planNoRefreshRequests                                           proxyStats
	planCPU, planProviderCPU                                        time.Duration
	planNoRefreshCPU, planNoRefreshProviderCPU                      time.Duration
	applyCPU, applyProviderCPU                                      time.Duration
	applyPeakRSS                                                    int64
	apiserverIsvcGets                                               int             // apiserver_request_total delta, GET inferenceservices, during the refreshing plan
	readyLatency                                                    []time.Duration // per InferenceService: Loaded status seen by a watch → terraform recorded the create complete
}

// loadedWatcher records when a watch first delivers each InferenceService of a namespace with a
// Loaded status written by the ModelMesh controller: the moment from which a client waiting for
// READY can know.
type loadedWatcher struct {
	stop chan struct{}
	mu   sync.Mutex
	at   map[string]time.Time
}

func watchLoaded(ctx context.Context, cfg *rest.Config, namespace string) (*loadedWatcher, error) {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	w := &loadedWatcher{stop: make(chan struct{}), at: map[string]time.Time{}}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(client, 0, namespace, nil)
	seen := func(obj any) {
		isvc, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		if state, _, _ := unstructured.NestedString(isvc.Object, "status", "modelStatus", "states", "activeModelState"); state != "Loaded" {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, known := w.at[isvc.GetName()]; !known {
			w.at[isvc.GetName()] = time.Now()
		}
	}
	informer := factory.ForResource(isvcGVR).Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, obj any) { seen(obj) }}); err != nil {
		return nil, err
	}
	factory.Start(w.stop)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		close(w.stop)
		return nil, fmt.Errorf("watch InferenceServices in %s: %w", namespace, ctx.Err())
	}
	return w, nil
}

func (w *loadedWatcher) loadedAt(name string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at, ok := w.at[name]
	return at, ok
}

func (w *loadedWatcher) close() { close(w.stop) }

// readyLatencies pairs each InferenceService's apply_complete in `terraform apply -json` output
// (emitted as soon as the provider returns from the create) with the moment a watch saw its Loaded
// status.
func readyLatencies(output []byte, loaded *loadedWatcher, n int) ([]time.Duration, error) {
	var latencies []time.Duration
	for _, line := range bytes.Split(output, []byte("\n")) {
		var msg struct {
			Timestamp string `json:"@timestamp"`
			Type      string `json:"type"`
			Hook      struct {
				Resource struct {
					Addr string `json:"addr"`
				} `json:"resource"`
			} `json:"hook"`
		}
		if json.Unmarshal(line, &msg) != nil || msg.Type != "apply_complete" {
			continue
		}
		index, ok := strings.CutPrefix(msg.Hook.Resource.Addr, "asm_inference_service.m[")
		if !ok {
			continue
		}
		name := "bench-m-" + strings.TrimSuffix(index, "]")
		completed, err := time.Parse(time.RFC3339Nano, msg.Timestamp)
		if err != nil {
			return nil, fmt.Errorf("apply_complete of %s: %w", name, err)
		}
		at, ok := loaded.loadedAt(name)
		if !ok {
			return nil, fmt.Errorf("no Loaded status of %s was seen", name)
		}
		latencies = append(latencies, completed.Sub(at))
	}
	if len(latencies) != n {
		return nil, fmt.Errorf("found %d InferenceService creates in the apply's JSON output, want %d", len(latencies), n)
	}
	return latencies, nil
}

func run(sizes []int, runsOf map[int]int, out, terraform string, loadDelay time.Duration, noWait bool) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "asm-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if err := os.RemoveAll(work); err != nil {
			log.Printf("removing %s: %v", work, err)
		}
	}()

	binary, binSize, err := buildProvider(work)
	if err != nil {
		return err
	}
	log.Printf("provider built: %s (%.1f MB)", binary, mb(binSize))
	schemaRPC, err := schemaRPCTime(ctx, binary, 11)
	if err != nil {
		return err
	}
	log.Printf("GetProviderSchema RPC from exec: %s", ms(schemaRPC))

	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	stack, err := localstack.Start(startCtx, localstack.Options{ModelMesh: mmeshfake.Options{LoadDelay: loadDelay}})
	cancel()
	if err != nil {
		return fmt.Errorf("start local stack: %w", err)
	}
	defer func() {
		if err := stack.Stop(); err != nil {
			log.Printf("stopping the local stack: %v", err)
		}
	}()
	admin := stack.RESTConfig()

	proxy, err := startProxy(admin)
	if err != nil {
		return err
	}
	defer proxy.close()

	rc := filepath.Join(work, "terraformrc")
	if err := os.WriteFile(rc, []byte(cliConfig(filepath.Join(work, "plugins"))), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1")
	for k, v := range stack.Env() {
		// The provider reaches the cluster through the proxy (the host in the config), not KUBECONFIG.
		if k != "KUBECONFIG" {
			env = append(env, k+"="+v)
		}
	}
	tf := &tfRunner{bin: terraform, env: env}

	results := map[int][]sample{}
	for _, n := range sizes {
		for r := 1; r <= runsOf[n]; r++ {
			s, err := benchOnce(ctx, stack, admin, proxy, tf, work, n, r, noWait)
			if err != nil {
				return fmt.Errorf("run %d at N=%d: %w", r, n, err)
			}
			log.Printf("N=%d run %d: apply %s, plan %s, plan -refresh=false %s, destroy %s, floor %s, peak RSS %.0f MB",
				n, r, sec(s.apply), sec(s.plan), sec(s.planNoRefresh), sec(s.destroy), sec(s.floor), mb(s.peakRSS))
			results[n] = append(results[n], s)
		}
	}
	env2, err := environment(ctx, tf, admin)
	if err != nil {
		return err
	}
	return os.WriteFile(out, []byte(report(sizes, results, binSize, schemaRPC, loadDelay, env2)), 0o644)
}

// buildProvider builds the provider as a release would (-trimpath, -s -w) into a filesystem mirror.
func buildProvider(work string) (string, int64, error) {
	dir := filepath.Join(work, "plugins", "registry.terraform.io", "asm-modelmesh", "asm", providerVersion, runtime.GOOS+"_"+runtime.GOARCH)
	bin := filepath.Join(dir, "terraform-provider-asm_v"+providerVersion)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+providerVersion, "-o", bin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", 0, fmt.Errorf("build provider: %w", err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return "", 0, err
	}
	return bin, fi.Size(), nil
}

func cliConfig(mirror string) string {
	return fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/asm-modelmesh/asm"]
  }
  direct {
    exclude = ["registry.terraform.io/asm-modelmesh/asm"]
  }
}
`, mirror)
}

// handshake is terraform's (its internal/plugin.Handshake): the magic cookie every provider checks.
var handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "TF_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
}

// rawConn is a go-plugin client plugin handing out the gRPC connection itself: the tfplugin6
// stubs are internal to terraform-plugin-go, and GetProviderSchema needs none (its request is
// empty, and the response is only counted).
type rawConn struct{ plugin.NetRPCUnsupportedPlugin }

func (rawConn) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("client only")
}

func (rawConn) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return conn, nil
}

// schemaRPCTime is the provider's start as terraform sees it, without terraform's own start: the
// median over runs of the time from exec'ing the binary, through go-plugin's handshake (protocol
// 6, gRPC, AutoMTLS, as terraform launches providers), to the GetProviderSchema response.
func schemaRPCTime(ctx context.Context, binary string, runs int) (time.Duration, error) {
	times := make([]time.Duration, 0, runs)
	for range runs {
		d, err := schemaRPCOnce(ctx, binary)
		if err != nil {
			return 0, fmt.Errorf("GetProviderSchema over go-plugin: %w", err)
		}
		times = append(times, d)
	}
	return median(times), nil
}

func schemaRPCOnce(ctx context.Context, binary string) (time.Duration, error) {
	start := time.Now()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{6: {"provider": rawConn{}}},
		Cmd:              exec.Command(binary),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return 0, err
	}
	raw, err := rpc.Dispense("provider")
	if err != nil {
		return 0, err
	}
	conn, ok := raw.(*grpc.ClientConn)
	if !ok {
		return 0, fmt.Errorf("dispensed %T", raw)
	}
	var resp emptypb.Empty // keeps the whole response as unknown fields
	if err := conn.Invoke(ctx, "/tfplugin6.Provider/GetProviderSchema", &emptypb.Empty{}, &resp); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if proto.Size(&resp) < 1024 {
		return 0, fmt.Errorf("GetProviderSchema answered only %d bytes", proto.Size(&resp))
	}
	return elapsed, nil
}

// config is N InferenceServices spread over N/10 runtimes (at least one) in their own namespace.
func config(host, namespace string, n int) string {
	runtimes := max(n/10, 1)
	var b strings.Builder
	fmt.Fprintf(&b, `terraform {
  required_providers {
    asm = { source = "asm-modelmesh/asm" }
  }
}

provider "asm" {
  kubernetes {
    host      = %q
    namespace = %q
  }
}

variable "wait_for_ready" {
  type    = bool
  default = true
}

resource "asm_serving_runtime" "rt" {
  count                   = %d
  name                    = "bench-rt-${count.index}"
  supported_model_formats = [{ name = "sklearn", version = "0" }]
  mlserver = {
    image          = "seldonio/mlserver:1.3.2"
    implementation = "mlserver_sklearn.SKLearnModel"
  }
}

resource "asm_inference_service" "m" {
  count          = %d
  name           = "bench-m-${count.index}"
  runtime        = asm_serving_runtime.rt[count.index %% %d].name
  wait_for_ready = var.wait_for_ready
  model_format {
    name = "sklearn"
  }
  storage_uri = "s3://bench-models/sklearn/m-${count.index}.joblib"
}
`, host, namespace, runtimes, n, runtimes)
	return b.String()
}

func benchOnce(ctx context.Context, stack *localstack.Stack, admin *rest.Config, proxy *countingProxy, tf *tfRunner, work string, n, r int, noWait bool) (sample, error) {
	var s sample
	namespace := fmt.Sprintf("bench-n%d-r%d", n, r)
	if err := stack.Cluster.CreateNamespace(ctx, namespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		return s, err
	}
	loaded, err := watchLoaded(ctx, stack.RESTConfig(), namespace)
	if err != nil {
		return s, err
	}
	defer loaded.close()
	dir := filepath.Join(work, namespace)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config(proxy.url, namespace, n)), 0o644); err != nil {
		return s, err
	}
	if _, err := tf.run(ctx, dir, "init", "-input=false"); err != nil {
		return s, err
	}

	var ph phase
	// -json: each resource's apply_complete carries a microsecond timestamp, for the READY latency.
	if ph, err = tf.run(ctx, dir, "apply", "-auto-approve", "-input=false", "-json"); err != nil {
		return s, err
	}
	if s.readyLatency, err = readyLatencies(ph.output, loaded, n); err != nil {
		return s, err
	}
	s.apply, s.peakRSS = ph.wall, ph.peakRSS
	s.applyCPU, s.applyProviderCPU, s.applyPeakRSS = ph.cpu, ph.providerCPU, ph.peakRSS
	if fi, err := os.Stat(filepath.Join(dir, "terraform.tfstate")); err == nil {
		s.stateBytes = fi.Size()
	}

	before, err := scrapeRequests(ctx, admin)
	if err != nil {
		return s, err
	}
	proxy.reset()
	if ph, err = tf.run(ctx, dir, "plan", "-input=false", "-detailed-exitcode"); err != nil {
		return s, fmt.Errorf("no-change plan: %w", err) // exit code 2 (changes) is an error here too
	}
	s.plan, s.peakRSS, s.planRequests = ph.wall, max(s.peakRSS, ph.peakRSS), proxy.snapshot()
	s.planCPU, s.planProviderCPU = ph.cpu, ph.providerCPU
	after, err := scrapeRequests(ctx, admin)
	if err != nil {
		return s, err
	}
	s.apiserverIsvcGets = after["GET serving.kserve.io/inferenceservices"] - before["GET serving.kserve.io/inferenceservices"]

	proxy.reset()
	if ph, err = tf.run(ctx, dir, "plan", "-input=false", "-refresh=false", "-detailed-exitcode"); err != nil {
		return s, err
	}
	s.planNoRefresh, s.peakRSS, s.planNoRefreshRequests = ph.wall, max(s.peakRSS, ph.peakRSS), proxy.snapshot()
	s.planNoRefreshCPU, s.planNoRefreshProviderCPU = ph.cpu, ph.providerCPU

	if ph, err = tf.run(ctx, dir, "providers", "schema", "-json"); err != nil {
		return s, err
	}
	s.schema = ph.wall

	if s.floor, err = floor(ctx, admin, namespace, n); err != nil {
		return s, err
	}

	if ph, err = tf.run(ctx, dir, "destroy", "-auto-approve", "-input=false"); err != nil {
		return s, err
	}
	s.destroy, s.peakRSS = ph.wall, max(s.peakRSS, ph.peakRSS)

	if noWait {
		if ph, err = tf.run(ctx, dir, "apply", "-auto-approve", "-input=false", "-var", "wait_for_ready=false"); err != nil {
			return s, err
		}
		s.applyNoWait = ph.wall
		if _, err = tf.run(ctx, dir, "destroy", "-auto-approve", "-input=false", "-var", "wait_for_ready=false"); err != nil {
			return s, err
		}
	}
	return s, nil
}

// floor is the least a refresh can cost: the same N GETs done directly with client-go, 10 at a
// time (terraform's default -parallelism), with no client-side rate limit. Median of three.
func floor(ctx context.Context, admin *rest.Config, namespace string, n int) (time.Duration, error) {
	cfg := rest.CopyConfig(admin)
	cfg.QPS, cfg.Burst = -1, 0 // QPS < 0 turns client-go's rate limiter off
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	isvcs := client.Resource(isvcGVR).Namespace(namespace)
	var times []time.Duration
	for range 3 {
		names := make(chan string)
		errs := make(chan error, 10)
		var wg sync.WaitGroup
		start := time.Now()
		for range 10 {
			wg.Go(func() {
				for name := range names {
					if _, err := isvcs.Get(ctx, name, metav1.GetOptions{}); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			})
		}
		for i := range n {
			names <- fmt.Sprintf("bench-m-%d", i)
		}
		close(names)
		wg.Wait()
		times = append(times, time.Since(start))
		select {
		case err := <-errs:
			return 0, fmt.Errorf("floor GET: %w", err)
		default:
		}
	}
	return median(times), nil
}

// tfRunner runs the terraform CLI and measures each command.
type tfRunner struct {
	bin string
	env []string
}

type phase struct {
	wall    time.Duration
	peakRSS int64
	// cpu is terraform's CPU time including the provider it waited for; providerCPU the provider's
	// alone, both user+system. Their split says on which side of the plugin protocol time goes.
	cpu, providerCPU time.Duration
	output           []byte // stdout and stderr
}

func (t *tfRunner) run(ctx context.Context, dir string, args ...string) (phase, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.bin, append([]string{"-chdir=" + dir}, append(args, "-no-color")...)...)
	if args[0] == "providers" {
		cmd.Args = cmd.Args[:len(cmd.Args)-1] // "providers schema" takes no -no-color
	}
	cmd.Env = t.env
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return phase{}, err
	}
	stop := make(chan struct{})
	done := make(chan phase)
	go func() { done <- pollProvider(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	ph := <-done
	ph.wall, ph.cpu, ph.output = wall, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime(), output.Bytes()
	if err != nil {
		tail := output.String()
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return ph, fmt.Errorf("terraform %s: %w\n%s", strings.Join(args, " "), err, tail)
	}
	return ph, nil
}

// pollProvider returns the largest VmHWM (peak resident set) seen of the provider processes
// terraform starts, and their CPU time as last seen, polled every 20ms until stop. VmHWM is the
// kernel's own high-water mark, so a peak between polls is still seen, as long as the process is
// polled once before it exits; CPU time may miss a process's last 20ms.
func pollProvider(parent int, stop <-chan struct{}) phase {
	var ph phase
	cpu := map[int]time.Duration{}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
			if err != nil || !bytes.HasPrefix(status, []byte("Name:\tterraform-provi")) { // comm is cut at 15 bytes
				continue
			}
			if procField(status, "PPid:") != int64(parent) || pid == parent {
				continue
			}
			ph.peakRSS = max(ph.peakRSS, procField(status, "VmHWM:")*1024)
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
				// Fields after the ")" that ends comm: utime and stime are the 12th and 13th, in
				// clock ticks (USER_HZ, 100 on Linux).
				f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
				utime, _ := strconv.ParseInt(f[11], 10, 64)
				stime, _ := strconv.ParseInt(f[12], 10, 64)
				cpu[pid] = time.Duration(utime+stime) * 10 * time.Millisecond
			}
		}
		select {
		case <-stop:
			for _, d := range cpu {
				ph.providerCPU += d
			}
			return ph
		case <-tick.C:
		}
	}
}

func procField(status []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == name {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// countingProxy forwards to the kube-apiserver with the admin credentials and counts requests by
// kind (see classify).
type countingProxy struct {
	url     string
	forward *testcluster.Proxy
	mu      sync.Mutex
	counts  map[string]int
	// gets are the apiserver's response times to object GETs; first and last bound them, so the
	// span over the sum shows how many were in flight at once.
	gets        []time.Duration
	first, last time.Time
}

// proxyStats is what the proxy saw during one phase.
type proxyStats struct {
	counts      map[string]int
	getP50      time.Duration
	getSpan     time.Duration
	concurrency float64
}

func startProxy(admin *rest.Config) (*countingProxy, error) {
	p := &countingProxy{counts: map[string]int{}}
	forward, err := testcluster.StartProxy(admin, func(r *http.Request, took time.Duration) {
		kind, end := classify(r), time.Now()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.counts[kind]++
		if strings.HasPrefix(kind, "get ") {
			p.gets = append(p.gets, took)
			if p.first.IsZero() {
				p.first = end.Add(-took)
			}
			p.last = end
		}
	})
	if err != nil {
		return nil, err
	}
	p.url, p.forward = forward.URL, forward
	return p, nil
}

func (p *countingProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts, p.gets, p.first, p.last = map[string]int{}, nil, time.Time{}, time.Time{}
}

func (p *countingProxy) snapshot() proxyStats {
	p.mu.Lock()
	st := proxyStats{counts: p.counts}
	if len(p.gets) > 0 {
		var sum time.Duration
		for _, d := range p.gets {
			sum += d
		}
		st.getP50, st.getSpan = median(p.gets), p.last.Sub(p.first)
		st.concurrency = float64(sum) / float64(st.getSpan)
	}
	p.mu.Unlock()
	p.reset()
	return st
}

func (p *countingProxy) close() { _ = p.forward.Close() }

// classify names a request "discovery", "openapi", or "<verb> <resource>" with verb one of get,
// list, watch, create, update, patch, delete.
func classify(r *http.Request) string {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	switch {
	case strings.HasPrefix(path, "openapi"), strings.HasPrefix(path, "swagger"):
		return "openapi"
	case parts[0] == "api" && len(parts) <= 2, parts[0] == "apis" && len(parts) <= 3:
		return "discovery"
	case parts[0] != "api" && parts[0] != "apis":
		return r.Method + " /" + path
	}
	rest := parts[2:] // after api/v1
	if parts[0] == "apis" {
		rest = parts[3:]
	}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:]
	}
	resource, named := rest[0], len(rest) > 1
	if len(rest) > 2 {
		resource += "/" + rest[2]
	}
	verb := map[string]string{"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[r.Method]
	switch {
	case verb != "":
	case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
		verb = "watch"
	case named:
		verb = "get"
	default:
		verb = "list"
	}
	return verb + " " + resource
}

// scrapeRequests reads apiserver_request_total from the apiserver's /metrics, summed by
// "<VERB> <group>/<resource>".
func scrapeRequests(ctx context.Context, admin *rest.Config) (map[string]int, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(admin)
	if err != nil {
		return nil, err
	}
	raw, err := dc.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		labels := map[string]string{}
		for _, kv := range strings.Split(line[len("apiserver_request_total{"):end], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		counts[labels["verb"]+" "+labels["group"]+"/"+labels["resource"]] += int(v)
	}
	return counts, sc.Err()
}

type machine struct {
	cpus                    int
	memory                  string
	goVersion, tfVersion    string
	kubeVersion, kernelInfo string
	tfStart                 time.Duration
}

func environment(ctx context.Context, tf *tfRunner, admin *rest.Config) (machine, error) {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version()}
	if meminfo, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb := procField(meminfo, "MemTotal:"); kb > 0 {
			m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, tf.bin, "version", "-json").Output()
	m.tfStart = time.Since(start)
	if err != nil {
		return m, err
	}
	var v struct {
		TerraformVersion string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return m, err
	}
	m.tfVersion = v.TerraformVersion
	dc, err := discovery.NewDiscoveryClientForConfig(admin)
	if err != nil {
		return m, err
	}
	sv, err := dc.ServerVersion()
	if err != nil {
		return m, err
	}
	m.kubeVersion = sv.GitVersion
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernelInfo = "Linux " + strings.TrimSpace(string(k))
	}
	return m, nil
}

func report(sizes []int, results map[int][]sample, binSize int64, schemaRPC, loadDelay time.Duration, m machine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Scale benchmark (issue 9)\n\n")
	fmt.Fprintf(&b, "Written by `go run ./bench` (`make bench`) on %s. Machine: %d CPUs, %s RAM, %s; Go %s, Terraform %s, kube-apiserver %s (local stack with the ModelMesh Serving controller v0.12.0, model-mesh stand-in load time %s).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), m.cpus, m.memory, m.kernelInfo, strings.TrimPrefix(m.goVersion, "go"), m.tfVersion, m.kubeVersion, loadDelay)
	fmt.Fprintf(&b, "Each N: N `asm_inference_service` + N/10 `asm_serving_runtime` in a fresh namespace, terraform's default `-parallelism=10`. Figures are medians of the N's runs; wall times include terraform's own start and the provider's start.\n\n")

	fmt.Fprintf(&b, "| N | runs | apply (wait READY) | apply (no wait) | plan | plan -refresh=false | destroy | floor (N GETs, client-go, 10 parallel) | (plan − plan -refresh=false) / floor | refresh requests (provider) | plan -refresh=false requests | apiserver GET isvc in plan | state / isvc | provider peak RSS | schema -json |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		ss := results[n]
		get := func(f func(sample) time.Duration) time.Duration { return median(mapSlice(ss, f)) }
		plan, noRefresh, fl := get(func(s sample) time.Duration { return s.plan }), get(func(s sample) time.Duration { return s.planNoRefresh }), get(func(s sample) time.Duration { return s.floor })
		noWait := "—"
		if d := get(func(s sample) time.Duration { return s.applyNoWait }); d > 0 {
			noWait = sec(d)
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s | %s | %.1f× | %s | %s | %d | %.2f KB | %.0f MB | %s |\n",
			n, len(ss), sec(get(func(s sample) time.Duration { return s.apply })), noWait, sec(plan), sec(noRefresh),
			sec(get(func(s sample) time.Duration { return s.destroy })), sec(fl), float64(plan-noRefresh)/float64(fl),
			countsString(ss[len(ss)-1].planRequests.counts), countsString(ss[len(ss)-1].planNoRefreshRequests.counts), ss[len(ss)-1].apiserverIsvcGets,
			float64(medianInt(mapSlice(ss, func(s sample) int64 { return s.stateBytes })))/float64(n)/1024,
			mb(medianInt(mapSlice(ss, func(s sample) int64 { return s.peakRSS }))), ms(get(func(s sample) time.Duration { return s.schema })))
	}
	fmt.Fprintf(&b, "\nRequest counts are the last run's, counted by the bench's proxy between terraform and the apiserver (every request the provider made, by verb and resource; `discovery` is /api, /apis and group-version lists, `openapi` is /openapi/*). The apiserver column is the `apiserver_request_total{verb=\"GET\",resource=\"inferenceservices\"}` delta over the same plan, a cross-check from the apiserver's side. State / isvc is terraform.tfstate bytes / N (the runtimes' share included).\n\n")

	fmt.Fprintf(&b, "## Where the refreshing plan's time goes\n\n")
	fmt.Fprintf(&b, "| N | plan wall | CPU: terraform + provider | of which provider | plan -refresh=false CPU: terraform + provider | of which provider | refresh CPU: terraform | refresh CPU: provider | GET p50 at the apiserver | first to last GET | GETs in flight (mean) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		ss := results[n]
		get := func(f func(sample) time.Duration) time.Duration { return median(mapSlice(ss, f)) }
		last := ss[len(ss)-1]
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %.1f ms | %s | %.2f |\n", n,
			sec(get(func(s sample) time.Duration { return s.plan })), sec(get(func(s sample) time.Duration { return s.planCPU })),
			sec(get(func(s sample) time.Duration { return s.planProviderCPU })), sec(get(func(s sample) time.Duration { return s.planNoRefreshCPU })),
			sec(get(func(s sample) time.Duration { return s.planNoRefreshProviderCPU })),
			sec(get(func(s sample) time.Duration {
				return s.planCPU - s.planProviderCPU - (s.planNoRefreshCPU - s.planNoRefreshProviderCPU)
			})),
			sec(get(func(s sample) time.Duration { return s.planProviderCPU - s.planNoRefreshProviderCPU })),
			float64(last.planRequests.getP50.Microseconds())/1000, sec(last.planRequests.getSpan), last.planRequests.concurrency)
	}
	fmt.Fprintf(&b, "\nCPU times are user+system, medians of the runs. The refresh columns are each run's refreshing plan minus its plan -refresh=false, on either side of the plugin protocol: what refreshing N + N/10 objects costs terraform itself and the provider (the apiserver's own CPU is in neither). The GET columns are the last run's.\n")
	fmt.Fprintf(&b, "\n## Where the apply's time goes\n\n| N | apply (wait READY) wall | CPU: terraform + provider | of which provider | provider peak RSS in the apply | READY latency p50 / p95 / max |\n|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		ss := results[n]
		get := func(f func(sample) time.Duration) time.Duration { return median(mapSlice(ss, f)) }
		latencies := pooledReadyLatencies(ss)
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.0f MB | %s / %s / %s |\n", n, sec(get(func(s sample) time.Duration { return s.apply })),
			sec(get(func(s sample) time.Duration { return s.applyCPU })), sec(get(func(s sample) time.Duration { return s.applyProviderCPU })),
			mb(medianInt(mapSlice(ss, func(s sample) int64 { return s.applyPeakRSS }))),
			ms(percentile(latencies, 0.5)), ms(percentile(latencies, 0.95)), ms(percentile(latencies, 1)))
	}
	fmt.Fprintf(&b, "\nREADY latency: from a watch delivering an InferenceService's Loaded status (written by the ModelMesh controller) to terraform's `apply_complete` for it (`apply -json`, microsecond timestamps), over every create of every run.\n")
	fmt.Fprintf(&b, "\n`terraform version` alone (CLI start, no provider, no config): %s.\n\n", ms(m.tfStart))
	fmt.Fprintf(&b, "## Targets\n\n| target | figure | |\n|---|---|---|\n")
	target := func(name, figure string, met bool) {
		verdict := "not met"
		if met {
			verdict = "met"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, figure, verdict)
	}
	for _, n := range sizes {
		last := results[n][len(results[n])-1]
		isvcGets, runtimeGets := last.planRequests.counts["get inferenceservices"], last.planRequests.counts["get servingruntimes"]
		other := 0
		for k, v := range last.planRequests.counts {
			if k != "get inferenceservices" && k != "get servingruntimes" {
				other += v
			}
		}
		target(fmt.Sprintf("refresh: 1 GET per managed object (N=%d: %d isvc + %d runtimes)", n, n, max(n/10, 1)),
			fmt.Sprintf("%d isvc GETs, %d runtime GETs, %d other", isvcGets, runtimeGets, other),
			isvcGets == n && runtimeGets == max(n/10, 1) && other == 0)
		disc := last.planRequests.counts["discovery"] + last.planRequests.counts["openapi"] + last.planNoRefreshRequests.counts["discovery"] + last.planNoRefreshRequests.counts["openapi"]
		target(fmt.Sprintf("0 discovery / OpenAPI requests (N=%d, both plans)", n), strconv.Itoa(disc), disc == 0)
	}
	if ss, ok := results[200]; ok {
		get := func(f func(sample) time.Duration) time.Duration { return median(mapSlice(ss, f)) }
		ratio := float64(get(func(s sample) time.Duration { return s.plan })-get(func(s sample) time.Duration { return s.planNoRefresh })) / float64(get(func(s sample) time.Duration { return s.floor }))
		target("no-change plan overhead at N=200 ≤ 1.5× floor", fmt.Sprintf("%.2f×", ratio), ratio <= 1.5)
		if nw := get(func(s sample) time.Duration { return s.applyNoWait }); nw > 0 {
			r := float64(get(func(s sample) time.Duration { return s.apply })) / float64(nw)
			target("apply of 200 with READY wait ≤ 1.3× without", fmt.Sprintf("%.2f×", r), r <= 1.3)
		}
		latencies := pooledReadyLatencies(ss)
		p95 := percentile(latencies, 0.95)
		target("READY latency p95 ≤ 1 s (N=200, all runs: Loaded status seen by a watch → terraform records the create done)",
			fmt.Sprintf("p95 %s (p50 %s, max %s, %d creates)", ms(p95), ms(percentile(latencies, 0.5)), ms(percentile(latencies, 1)), len(latencies)),
			p95 <= time.Second)
		rss := medianInt(mapSlice(ss, func(s sample) int64 { return s.peakRSS }))
		target("provider peak RSS at N=200 ≤ 100 MB", fmt.Sprintf("%.0f MB", mb(rss)), rss <= 100<<20)
		if ss8, ok := results[800]; ok {
			r := float64(median(mapSlice(ss8, func(s sample) time.Duration { return s.plan }))) / float64(get(func(s sample) time.Duration { return s.plan }))
			target("linear growth: plan 800 vs 200 ≤ 4.4×", fmt.Sprintf("%.2f×", r), r <= 4.4)
			r = float64(median(mapSlice(ss8, func(s sample) time.Duration { return s.apply }))) / float64(get(func(s sample) time.Duration { return s.apply }))
			target("linear growth: apply 800 vs 200 ≤ 4.4×", fmt.Sprintf("%.2f×", r), r <= 4.4)
		}
	}
	largest := sizes[len(sizes)-1]
	ss := results[largest]
	perIsvc := float64(medianInt(mapSlice(ss, func(s sample) int64 { return s.stateBytes }))) / float64(largest)
	target(fmt.Sprintf("state ≤ 5 KB per InferenceService (N=%d)", largest), fmt.Sprintf("%.2f KB", perIsvc/1024), perIsvc <= 5*1024)
	target("binary ≤ 40 MB (-trimpath -s -w)", fmt.Sprintf("%.1f MB", mb(binSize)), binSize <= 40<<20)
	sch := median(mapSlice(ss, func(s sample) time.Duration { return s.schema }))
	target("schema call ≤ 150 ms: GetProviderSchema RPC from exec'ing the provider (go-plugin, median of 11)",
		fmt.Sprintf("%s (the CLI's `terraform providers schema -json`: %s, of which terraform's own start is about %s)", ms(schemaRPC), ms(sch), ms(m.tfStart)),
		schemaRPC <= 150*time.Millisecond)
	return b.String()
}

func countsString(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, c[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

func median(d []time.Duration) time.Duration { return medianInt(d) }

// pooledReadyLatencies gathers the READY latencies of every create of every run.
func pooledReadyLatencies(ss []sample) []time.Duration {
	var all []time.Duration
	for _, s := range ss {
		all = append(all, s.readyLatency...)
	}
	return all
}

// percentile is the nearest-rank percentile (q in (0, 1]) of d.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(d))
	return sorted[max(int(math.Ceil(q*float64(len(sorted))))-1, 0)]
}

func medianInt[T int64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
func ms(d time.Duration) string  { return fmt.Sprintf("%d ms", d.Milliseconds()) }
func mb(b int64) float64         { return float64(b) / (1 << 20) }
