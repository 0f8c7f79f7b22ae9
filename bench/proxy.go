package main

// Every request the provider makes, counted between terraform and the apiserver; the apiserver's own count.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
)

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
