package main

// Provider CPU per RPC and resource type, from the CPU profiles the provider writes when
// TF_ASM_CPUPROFILE_DIR is set (internal/rpcprofile labels each RPC's samples).

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/rpcprofile"
)

// The RPCs a resource's CPU is reported by, in the order terraform calls them.
var resourceRPCs = []string{"ValidateResourceConfig", "UpgradeResourceState", "ReadResource", "PlanResourceChange", "ApplyResourceChange"}

// Unlabelled samples: the GC's background workers (allocation inside RPCs is paid partly there)
// and everything else outside an RPC (gRPC transport, process start, go-plugin).
const (
	rpcGC          = "GC workers"
	rpcUnlabelled  = "unlabelled"
	gcWorkerSymbol = "runtime.gcBgMarkWorker"
)

type rpcKey struct{ rpc, typeName string }

// loadProfiles merges the profiles the provider processes of one terraform command wrote to dir;
// nil when there are none (a provider without internal/rpcprofile, as an old baseline).
func loadProfiles(dir string) (*profile.Profile, error) {
	files, err := filepath.Glob(filepath.Join(dir, "cpu-*.pb.gz"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	var ps []*profile.Profile
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		p, err := profile.Parse(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// A provider killed before it flushed (terraform gives it 2 s after Shutdown) leaves a
			// truncated file: say so rather than under-count silently.
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ps = append(ps, p)
	}
	return profile.Merge(ps)
}

// mergeProfiles merges the non-nil profiles of several runs.
func mergeProfiles(ps []*profile.Profile) (*profile.Profile, error) {
	ps = slices.DeleteFunc(slices.Clone(ps), func(p *profile.Profile) bool { return p == nil })
	if len(ps) == 0 {
		return nil, nil
	}
	return profile.Merge(ps)
}

func cpuIndex(p *profile.Profile) int {
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			return i
		}
	}
	return -1
}

// cpuByRPC sums a profile's CPU by the rpc and type labels of its samples.
func cpuByRPC(p *profile.Profile) map[rpcKey]time.Duration {
	out := map[rpcKey]time.Duration{}
	if p == nil {
		return out
	}
	i := cpuIndex(p)
	if i < 0 {
		return out
	}
	for _, s := range p.Sample {
		k := rpcKey{rpc: rpcUnlabelled}
		if rpc := s.Label[rpcprofile.LabelRPC]; len(rpc) > 0 {
			k.rpc = rpc[0]
			if t := s.Label[rpcprofile.LabelType]; len(t) > 0 {
				k.typeName = t[0]
			}
		} else if inGCWorker(s) {
			k.rpc = rpcGC
		}
		out[k] += time.Duration(s.Value[i])
	}
	return out
}

func inGCWorker(s *profile.Sample) bool {
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil && l.Function.Name == gcWorkerSymbol {
				return true
			}
		}
	}
	return false
}

type funcCPU struct {
	name string
	flat time.Duration
}

// topFunctions is the profile's n largest functions by flat CPU (the leaf of each sample), and
// the profile's total.
func topFunctions(p *profile.Profile, n int) ([]funcCPU, time.Duration) {
	i := cpuIndex(p)
	flat := map[string]time.Duration{}
	var total time.Duration
	for _, s := range p.Sample {
		total += time.Duration(s.Value[i])
		if len(s.Location) > 0 && len(s.Location[0].Line) > 0 && s.Location[0].Line[0].Function != nil {
			flat[s.Location[0].Line[0].Function.Name] += time.Duration(s.Value[i])
		}
	}
	var fs []funcCPU
	for name, d := range flat {
		fs = append(fs, funcCPU{name, d})
	}
	slices.SortFunc(fs, func(a, b funcCPU) int { return cmp.Or(cmp.Compare(b.flat, a.flat), strings.Compare(a.name, b.name)) })
	return fs[:min(n, len(fs))], total
}

func writeProfile(p *profile.Profile, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := p.Compact().Write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// The profiled commands, by the name their kept profile files carry.
var profiledCommands = []struct {
	name, title string
	of          func(sample) *profile.Profile
}{
	{"apply", "apply (wait READY)", func(s sample) *profile.Profile { return s.applyProfile }},
	{"plan", "plan", func(s sample) *profile.Profile { return s.planProfile }},
	{"plan-refresh-false", "plan -refresh=false", func(s sample) *profile.Profile { return s.planNoRefreshProfile }},
}

// keepProfiles writes each profiled command's profiles, all runs of an N merged, to dir as
// <command>-n<N>.pb.gz, and returns the merged profiles by file name.
func keepProfiles(dir string, sizes []int, results map[int][]sample) (map[string]*profile.Profile, error) {
	kept := map[string]*profile.Profile{}
	for _, n := range sizes {
		for _, c := range profiledCommands {
			p, err := mergeProfiles(mapSlice(results[n], c.of))
			if err != nil || p == nil {
				return kept, err
			}
			name := fmt.Sprintf("%s-n%d.pb.gz", c.name, n)
			if err := writeProfile(p, filepath.Join(dir, name)); err != nil {
				return kept, err
			}
			kept[name] = p
		}
	}
	return kept, nil
}

// rpcReport is the provider's CPU per RPC per resource type per object, medians of the runs.
func rpcReport(sizes []int, results map[int][]sample, kept map[string]*profile.Profile, outDir string) string {
	if len(kept) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Provider CPU per RPC (pprof labels)\n\n")
	fmt.Fprintf(&b, "The provider ran with `%s` set: each provider process wrote a CPU profile (100 Hz sampling) with every RPC's samples labelled `%s` and `%s` (internal/rpcprofile). Milliseconds of provider CPU per managed object of the type, medians of the runs; a resource type's RPCs are summed over all its calls in the command (terraform validates per resource block, the rest are per instance).\n\n",
		rpcprofile.EnvDir, rpcprofile.LabelRPC, rpcprofile.LabelType)
	fmt.Fprintf(&b, "| N | command | resource type | objects | %s | per object |\n|---|---|---|---|%s---|\n", strings.Join(resourceRPCs, " | "), strings.Repeat("---|", len(resourceRPCs)))
	types := []string{"asm_inference_service", "asm_serving_runtime"}
	for _, n := range sizes {
		objects := map[string]int{types[0]: n, types[1]: max(n/10, 1)}
		for _, c := range profiledCommands {
			byRun := mapSlice(results[n], func(s sample) map[rpcKey]time.Duration { return cpuByRPC(c.of(s)) })
			for _, t := range types {
				cells := make([]string, 0, len(resourceRPCs))
				for _, rpc := range resourceRPCs {
					cells = append(cells, perObject(median(mapSlice(byRun, func(m map[rpcKey]time.Duration) time.Duration { return m[rpcKey{rpc, t}] })), objects[t]))
				}
				all := median(mapSlice(byRun, func(m map[rpcKey]time.Duration) time.Duration { return typeCPU(m, t) }))
				fmt.Fprintf(&b, "| %d | %s | `%s` | %d | %s | **%s** |\n", n, c.title, t, objects[t], strings.Join(cells, " | "), perObject(all, objects[t]))
			}
		}
	}
	fmt.Fprintf(&b, "\nWhat is not per object, in ms per command (medians): the profile's total against the provider CPU read from /proc (the profile misses each process's package initialisation before main starts the profiler, and samples every 10 ms); GC workers are the collector's background marking, the bill for allocations in every RPC.\n\n")
	fmt.Fprintf(&b, "| N | command | provider CPU (/proc) | profile total | resource RPCs | GetProviderSchema | ValidateProviderConfig + ConfigureProvider | GC workers | unlabelled (gRPC, go-plugin, start) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		for _, c := range profiledCommands {
			byRun := mapSlice(results[n], func(s sample) map[rpcKey]time.Duration { return cpuByRPC(c.of(s)) })
			sum := func(keep func(rpcKey) bool) string {
				return msf(median(mapSlice(byRun, func(m map[rpcKey]time.Duration) time.Duration {
					var d time.Duration
					for k, v := range m {
						if keep(k) {
							d += v
						}
					}
					return d
				})))
			}
			procCPU := map[string]func(sample) time.Duration{
				"apply": func(s sample) time.Duration { return s.applyProviderCPU }, "plan": func(s sample) time.Duration { return s.planProviderCPU },
				"plan-refresh-false": func(s sample) time.Duration { return s.planNoRefreshProviderCPU },
			}[c.name]
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, c.title, msf(median(mapSlice(results[n], procCPU))),
				sum(func(rpcKey) bool { return true }), sum(func(k rpcKey) bool { return slices.Contains(resourceRPCs, k.rpc) }),
				sum(func(k rpcKey) bool { return k.rpc == "GetProviderSchema" }),
				sum(func(k rpcKey) bool { return k.rpc == "ValidateProviderConfig" || k.rpc == "ConfigureProvider" }),
				sum(func(k rpcKey) bool { return k.rpc == rpcGC }), sum(func(k rpcKey) bool { return k.rpc == rpcUnlabelled }))
		}
	}

	largest := sizes[len(sizes)-1]
	name := fmt.Sprintf("plan-n%d.pb.gz", largest)
	if p := kept[name]; p != nil {
		top, total := topFunctions(p, 15)
		fmt.Fprintf(&b, "\n### Hottest functions of the refreshing plan at N=%d\n\nBy flat CPU (the sampled leaf), all runs merged, %s of samples in all. `go tool pprof -top -cum -tagfocus=%s=ReadResource %s` and the like go further.\n\n| function | flat | share |\n|---|---|---|\n",
			largest, msf(total), rpcprofile.LabelRPC, filepath.Join(outDir, "profiles", name))
		for _, f := range top {
			fmt.Fprintf(&b, "| `%s` | %s | %.1f%% |\n", f.name, msf(f.flat), 100*float64(f.flat)/float64(total))
		}
	}
	fmt.Fprintf(&b, "\nProfiles, all runs of an N merged, beside this file:")
	for _, n := range sizes {
		for _, c := range profiledCommands {
			if name := fmt.Sprintf("%s-n%d.pb.gz", c.name, n); kept[name] != nil {
				fmt.Fprintf(&b, " [%s](profiles/%s)", name, name)
			}
		}
	}
	fmt.Fprintf(&b, ".\n")
	if ss, ok := results[200]; ok && kept["plan-n200.pb.gz"] != nil {
		fmt.Fprintf(&b, "\n### Per-object targets (issue 31)\n\n| target | figure | |\n|---|---|---|\n")
		byRun := mapSlice(ss, func(s sample) map[rpcKey]time.Duration { return cpuByRPC(s.planProfile) })
		for _, t := range []struct {
			typeName string
			objects  int
			limit    time.Duration
		}{{"asm_inference_service", 200, 2 * time.Millisecond}, {"asm_serving_runtime", 20, 4 * time.Millisecond}} {
			d := median(mapSlice(byRun, func(m map[rpcKey]time.Duration) time.Duration { return typeCPU(m, t.typeName) })) / time.Duration(t.objects)
			verdict := "not met"
			if d <= t.limit {
				verdict = "met"
			}
			fmt.Fprintf(&b, "| provider CPU per `%s` in a no-change plan at N=200 ≤ %s (its RPCs; GC workers and transport not included) | %s | %s |\n",
				t.typeName, msf(t.limit), msf(d), verdict)
		}
	}
	return b.String()
}

// typeCPU is a resource type's CPU in all its resource RPCs.
func typeCPU(m map[rpcKey]time.Duration, typeName string) time.Duration {
	var sum time.Duration
	for _, rpc := range resourceRPCs {
		sum += m[rpcKey{rpc, typeName}]
	}
	return sum
}

func perObject(d time.Duration, objects int) string {
	return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000/float64(objects))
}

func msf(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
