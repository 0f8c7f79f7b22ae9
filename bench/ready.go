package main

// When each InferenceService turned READY, as a watch saw it, against when terraform recorded its create.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

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
