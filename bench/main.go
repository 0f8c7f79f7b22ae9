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
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
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
