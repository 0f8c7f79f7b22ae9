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
// The provider of the apply and both plans runs with TF_ASM_CPUPROFILE_DIR set: each provider
// process writes a CPU profile with every RPC labelled by RPC and resource type (internal/rpcprofile),
// which the report sums into provider CPU per RPC per object; the profiles, merged per command and
// N, are kept in profiles/ beside the report.
//
// -baseline REV (or a binary) runs a second provider on the same stack, runs alternated with this
// tree's, and reports both figures and their ratio: a gain measured on the same machine at the
// same time, which separate bench runs on a shared machine cannot show.
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/google/pprof/profile"

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
	baseline := flag.String("baseline", "", "a second provider run side by side on the same stack, runs alternated: a binary, or a git revision of this repository (HEAD~1) to build")
	flag.Parse()
	sizes, runsOf, err := parseSizes(*ns, *runs)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	if err := run(sizes, runsOf, *out, *terraform, *baseline, *loadDelay, *noWait); err != nil {
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
	applyProfile, planProfile, planNoRefreshProfile                 *profile.Profile // provider CPU by RPC; nil if the binary does not write them
	planNoRefreshCPU, planNoRefreshProviderCPU                      time.Duration
	applyCPU, applyProviderCPU                                      time.Duration
	applyPeakRSS                                                    int64
	apiserverIsvcGets                                               int             // apiserver_request_total delta, GET inferenceservices, during the refreshing plan
	readyLatency                                                    []time.Duration // per InferenceService: Loaded status seen by a watch → terraform recorded the create complete
}

// candidate is one provider binary under test, with terraform set up to install it.
type candidate struct {
	label     string
	suffix    string // of its namespaces and working directories
	bin       string
	tf        *tfRunner
	size      int64
	schemaRPC time.Duration
}

func run(sizes []int, runsOf map[int]int, out, terraform, baseline string, loadDelay time.Duration, noWait bool) error {
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

	this := &candidate{label: "this tree"}
	if this.bin, err = buildProvider(".", mirrorBinary(work, "plugins")); err != nil {
		return err
	}
	cands := []*candidate{this}
	if baseline != "" {
		base := &candidate{label: "baseline " + baseline, suffix: "-base"}
		if base.bin, err = baselineProvider(work, baseline, mirrorBinary(work, "plugins-base")); err != nil {
			return err
		}
		cands = append(cands, base)
	}
	for _, c := range cands {
		fi, err := os.Stat(c.bin)
		if err != nil {
			return err
		}
		c.size = fi.Size()
		if c.schemaRPC, err = schemaRPCTime(ctx, c.bin, 11); err != nil {
			return err
		}
		log.Printf("%s: %s (%.1f MB), GetProviderSchema RPC from exec: %s", c.label, c.bin, mb(c.size), ms(c.schemaRPC))
	}

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

	var env []string
	for k, v := range stack.Env() {
		// The provider reaches the cluster through the proxy (the host in the config), not KUBECONFIG.
		if k != "KUBECONFIG" {
			env = append(env, k+"="+v)
		}
	}
	for _, c := range cands {
		// Each candidate installs from its own mirror (same address and version), by its own CLI config.
		rc := filepath.Join(work, "terraformrc"+c.suffix)
		if err := os.WriteFile(rc, []byte(cliConfig(filepath.Join(work, "plugins"+c.suffix))), 0o644); err != nil {
			return err
		}
		c.tf = &tfRunner{bin: terraform, profiles: filepath.Join(work, "profiles"+c.suffix),
			env: append(append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "TF_IN_AUTOMATION=1"), env...)}
	}

	results := map[*candidate]map[int][]sample{}
	for _, c := range cands {
		results[c] = map[int][]sample{}
	}
	for _, n := range sizes {
		for r := 1; r <= runsOf[n]; r++ {
			// Alternate which binary goes first, so drift in the machine's load falls on both.
			order := slices.Clone(cands)
			if r%2 == 0 {
				slices.Reverse(order)
			}
			for _, c := range order {
				s, err := benchOnce(ctx, stack, admin, proxy, c, work, n, r, noWait)
				if err != nil {
					return fmt.Errorf("%s, run %d at N=%d: %w", c.label, r, n, err)
				}
				log.Printf("%s, N=%d run %d: apply %s, plan %s, plan -refresh=false %s, destroy %s, floor %s, peak RSS %.0f MB",
					c.label, n, r, sec(s.apply), sec(s.plan), sec(s.planNoRefresh), sec(s.destroy), sec(s.floor), mb(s.peakRSS))
				results[c][n] = append(results[c][n], s)
			}
		}
	}
	env2, err := environment(ctx, this.tf, admin)
	if err != nil {
		return err
	}
	profiles, err := keepProfiles(filepath.Join(filepath.Dir(out), "profiles"), sizes, results[this])
	if err != nil {
		return err
	}
	text := report(sizes, results[this], this.size, this.schemaRPC, loadDelay, env2) + rpcReport(sizes, results[this], profiles, filepath.Dir(out))
	if len(cands) > 1 {
		base := cands[1]
		text += sideBySide(sizes, this, base, results[this], results[base])
	}
	return os.WriteFile(out, []byte(text), 0o644)
}

// mirrorBinary is where terraform's filesystem mirror under work/mirror expects the provider.
func mirrorBinary(work, mirror string) string {
	return filepath.Join(work, mirror, "registry.terraform.io", "asm-modelmesh", "asm", providerVersion, runtime.GOOS+"_"+runtime.GOARCH,
		"terraform-provider-asm_v"+providerVersion)
}

// buildProvider builds the provider in src as a release would (-trimpath, -s -w) to bin.
func buildProvider(src, bin string) (string, error) {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+providerVersion, "-o", bin, ".")
	cmd.Dir, cmd.Stdout, cmd.Stderr = src, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build provider in %s: %w", src, err)
	}
	return bin, nil
}

// baselineProvider puts the baseline at bin: a provider binary copied, or else a git revision
// of this repository built from `git archive` (no worktree is registered in the shared .git).
func baselineProvider(work, baseline, bin string) (string, error) {
	if fi, err := os.Stat(baseline); err == nil && fi.Mode().IsRegular() {
		data, err := os.ReadFile(baseline)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return "", err
		}
		return bin, os.WriteFile(bin, data, 0o755)
	}
	src := filepath.Join(work, "baseline-src")
	tarball := src + ".tar"
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"git", "archive", "--format=tar", "-o", tarball, baseline}, {"tar", "-xf", tarball, "-C", src}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("-baseline %s is neither a file nor a revision: %s: %w", baseline, strings.Join(args, " "), err)
		}
	}
	return buildProvider(src, bin)
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

func benchOnce(ctx context.Context, stack *localstack.Stack, admin *rest.Config, proxy *countingProxy, c *candidate, work string, n, r int, noWait bool) (sample, error) {
	var s sample
	tf := c.tf
	namespace := fmt.Sprintf("bench-n%d-r%d%s", n, r, c.suffix)
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
	if ph, err = tf.profiled(ctx, dir, "apply", "-auto-approve", "-input=false", "-json"); err != nil {
		return s, err
	}
	if s.readyLatency, err = readyLatencies(ph.output, loaded, n); err != nil {
		return s, err
	}
	s.apply, s.peakRSS = ph.wall, ph.peakRSS
	s.applyCPU, s.applyProviderCPU, s.applyPeakRSS, s.applyProfile = ph.cpu, ph.providerCPU, ph.peakRSS, ph.profile
	if fi, err := os.Stat(filepath.Join(dir, "terraform.tfstate")); err == nil {
		s.stateBytes = fi.Size()
	}

	before, err := scrapeRequests(ctx, admin)
	if err != nil {
		return s, err
	}
	proxy.reset()
	if ph, err = tf.profiled(ctx, dir, "plan", "-input=false", "-detailed-exitcode"); err != nil {
		return s, fmt.Errorf("no-change plan: %w", err) // exit code 2 (changes) is an error here too
	}
	s.plan, s.peakRSS, s.planRequests = ph.wall, max(s.peakRSS, ph.peakRSS), proxy.snapshot()
	s.planCPU, s.planProviderCPU, s.planProfile = ph.cpu, ph.providerCPU, ph.profile
	after, err := scrapeRequests(ctx, admin)
	if err != nil {
		return s, err
	}
	s.apiserverIsvcGets = after["GET serving.kserve.io/inferenceservices"] - before["GET serving.kserve.io/inferenceservices"]

	proxy.reset()
	if ph, err = tf.profiled(ctx, dir, "plan", "-input=false", "-refresh=false", "-detailed-exitcode"); err != nil {
		return s, err
	}
	s.planNoRefresh, s.peakRSS, s.planNoRefreshRequests = ph.wall, max(s.peakRSS, ph.peakRSS), proxy.snapshot()
	s.planNoRefreshCPU, s.planNoRefreshProviderCPU, s.planNoRefreshProfile = ph.cpu, ph.providerCPU, ph.profile

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
