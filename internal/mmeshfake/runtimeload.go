package mmeshfake

import (
	"context"
	"errors"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

// Loads by a real model runtime: an instance with a runtime loads its copies by calling the
// runtime's ModelRuntime API (model-runtime.proto) instead of simulating them.

// modelRuntime is what model-mesh calls of a runtime's ModelRuntime API to load and unload models
// (*puller.Puller, connected to an adapter).
type modelRuntime interface {
	LoadModel(context.Context, puller.LoadModelRequest) (puller.LoadModelResponse, error)
	UnloadModel(context.Context, string) error
}

// loadingForever is the end of a load whose runtime has not answered yet.
const loadingForever = math.MaxInt64

// runtimeLoad calls the runtime's loadModel for job as SidecarModelMesh.loadRuntime/submitLoad
// (model-mesh v0.12.0) does: model id, and the record's type, path and key as modelType,
// modelPath and modelKey. The runtime's loading timeout bounds it (CacheEntry.scheduleTimeoutForLoad);
// its answer ends the load, a failure recorded as failureMessage renders it.
func (c *cluster) runtimeLoad(in *instance, job loadJob) {
	key := copyKey(job.model, in.id)
	mr, err := c.getModel(job.model)
	if err != nil || mr == nil {
		c.opts.Logf("mmeshfake: %s/%s: model %s gone before its load in %s (%v)", c.namespace, c.service, job.model, in.id, err)
		c.loadEnded(in, job.model)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	if in.loadTimeout > 0 {
		ctx, cancel = withTimeout(ctx, cancel, in.loadTimeout)
	}
	c.spans[key] = loadSpan{start: job.start, end: loadingForever, cancel: cancel}
	req := puller.LoadModelRequest{ModelID: job.model, ModelType: mr.Type, ModelPath: mr.MPath, ModelKey: mr.EncKey}
	rt := in.runtime
	go func() {
		_, err := rt.LoadModel(ctx, req)
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		if span, ok := c.spans[key]; !c.closed && ok && span.start == job.start {
			span.end, span.cancel = nowMs(), nil
			switch {
			case timedOut:
				span.failure = timeoutError(job.model, in.loadTimeout)
			case err != nil:
				span.failure = failureMessage(err)
			}
			c.spans[key] = span
			c.opts.Logf("mmeshfake: %s/%s: runtime answered the load of %s in %s (error: %v)", c.namespace, c.service, job.model, in.id, err)
			c.endLoad(job.model, in.id, job.start)
			return
		}
		// Removed while it loaded (runtimeRemove cancelled the call): what the runtime loaded anyway
		// goes, as model-mesh unloads a removed cache entry once its load completes.
		if err == nil {
			go c.unload(rt, job.model)
		}
	}()
}

// withTimeout bounds ctx by d; its cancel also cancels ctx's.
func withTimeout(ctx context.Context, cancelParent context.CancelFunc, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, func() { cancel(); cancelParent() }
}

// runtimeRemove stops the load of model in in, or unloads its loaded copy, when its record is
// deleted: model-mesh's registry listener removes the local cache entry, whose removal cancels
// a running load or calls the runtime's unloadModel (SidecarModelMesh.unloadModel).
func (c *cluster) runtimeRemove(in *instance, model string, span loadSpan) {
	switch {
	case span.end == loadingForever:
		span.cancel()
	case span.failure == "":
		go c.unload(in.runtime, model)
	}
}

func (c *cluster) unload(rt modelRuntime, model string) {
	ctx, cancel := etcdCtx()
	defer cancel()
	if err := rt.UnloadModel(ctx, model); err != nil {
		c.opts.Logf("mmeshfake: %s/%s: unloadModel %s: %v", c.namespace, c.service, model, err)
	}
}

// javaCodeNames are io.grpc.Status.Code's names, by code number.
var javaCodeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// failureMessage is ModelMesh.failureMessageFromException (v0.12.0) of a runtime's gRPC error: its
// description alone for UNKNOWN (what an adapter's plain Go error arrives as), else javaStatus.
func failureMessage(err error) string {
	st := status.Convert(err)
	if st.Code() == codes.Unknown && st.Message() != "" {
		return st.Message()
	}
	return javaStatus(st)
}

// javaStatus is a status as grpc-java's StatusRuntimeException.getMessage renders it:
// "<CODE>: <description>", or the code alone without a description.
func javaStatus(st *status.Status) string {
	name := st.Code().String()
	if int(st.Code()) < len(javaCodeNames) {
		name = javaCodeNames[st.Code()]
	}
	if st.Message() == "" {
		return name
	}
	return name + ": " + st.Message()
}
