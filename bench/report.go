package main

// The machine, and bench/RESULTS.md from the samples.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

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

// sideBySide compares two binaries run alternately on the same stack in the same bench run.
func sideBySide(sizes []int, this, base *candidate, a, b map[int][]sample) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\n## Side by side: %s against %s\n\n", this.label, base.label)
	fmt.Fprintf(&s, "Both binaries on the same stack in the same run, runs alternated (odd runs this tree first, even runs the baseline first), each in its own namespace. Medians of each binary's runs; ratio = this tree / baseline, below 1 is a gain. The baseline writes no CPU profile unless it has internal/rpcprofile, which costs this tree about 1%%.\n\n")
	fmt.Fprintf(&s, "| N | figure | this tree | baseline | ratio |\n|---|---|---|---|---|\n")
	figures := []struct {
		name string
		of   func(sample) time.Duration
	}{
		{"plan wall", func(x sample) time.Duration { return x.plan }},
		{"plan provider CPU", func(x sample) time.Duration { return x.planProviderCPU }},
		{"plan -refresh=false wall", func(x sample) time.Duration { return x.planNoRefresh }},
		{"plan -refresh=false provider CPU", func(x sample) time.Duration { return x.planNoRefreshProviderCPU }},
		{"refresh provider CPU (plan − plan -refresh=false)", func(x sample) time.Duration { return x.planProviderCPU - x.planNoRefreshProviderCPU }},
		{"apply (wait READY) wall", func(x sample) time.Duration { return x.apply }},
		{"apply (wait READY) provider CPU", func(x sample) time.Duration { return x.applyProviderCPU }},
		{"apply (no wait) wall", func(x sample) time.Duration { return x.applyNoWait }},
		{"destroy wall", func(x sample) time.Duration { return x.destroy }},
	}
	for _, n := range sizes {
		for _, f := range figures {
			x, y := median(mapSlice(a[n], f.of)), median(mapSlice(b[n], f.of))
			if y <= 0 {
				continue // not measured (-nowait=false)
			}
			fmt.Fprintf(&s, "| %d | %s | %s | %s | %.2f× |\n", n, f.name, sec(x), sec(y), float64(x)/float64(y))
		}
		x, y := medianInt(mapSlice(a[n], func(x sample) int64 { return x.peakRSS })), medianInt(mapSlice(b[n], func(x sample) int64 { return x.peakRSS }))
		fmt.Fprintf(&s, "| %d | provider peak RSS | %.0f MB | %.0f MB | %.2f× |\n", n, mb(x), mb(y), float64(x)/float64(y))
	}
	fmt.Fprintf(&s, "| — | GetProviderSchema RPC from exec (median of 11) | %s | %s | %.2f× |\n", ms(this.schemaRPC), ms(base.schemaRPC), float64(this.schemaRPC)/float64(base.schemaRPC))
	fmt.Fprintf(&s, "| — | binary size | %.1f MB | %.1f MB | %.2f× |\n", mb(this.size), mb(base.size), float64(this.size)/float64(base.size))
	return s.String()
}
