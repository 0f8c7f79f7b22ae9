package mmeshfake

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// What a load takes and how it fails: its time, the runtime's loading timeout, the puller's and
// the loader's errors.

// loadTimeSegment in a storage path sets how long its load takes: "load-<Go duration>/", as in
// "models/load-8s/model.joblib".
var loadTimeSegment = regexp.MustCompile(`(?:^|/)load-([0-9]+(?:ms|s|m))/`)

// loadDelay is how long loading the model at path takes.
func (c *cluster) loadDelay(path string) time.Duration {
	if m := loadTimeSegment.FindStringSubmatch(path); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil {
			return d
		}
	}
	if c.opts.SlowPathMarker != "" && strings.Contains(path, c.opts.SlowPathMarker) {
		return c.opts.SlowLoadDelay
	}
	return c.opts.LoadDelay
}

// loadEnd is when a load of mr in instance in ends: after its load time, or, when that is longer
// than the instance's loading timeout, failed at the timeout (CacheEntry.scheduleTimeoutForLoad,
// ModelMesh.java v0.12.0).
func (c *cluster) loadEnd(mr *modelRecord, in *instance) (after time.Duration, timedOut bool) {
	delay := c.loadDelay(mr.MPath)
	if in.loadTimeout > 0 && delay > in.loadTimeout {
		return in.loadTimeout, true
	}
	return delay, false
}

// timeoutError is the failure model-mesh records for a load that timed out: the TimeoutException
// of scheduleTimeoutForLoad, which failureMessageFromException renders with String.valueOf.
func timeoutError(modelID string, timeout time.Duration) string {
	return fmt.Sprintf("java.util.concurrent.TimeoutException: Load of model %s timed out after %dsec", modelID, timeout.Milliseconds()/1000)
}

// loadFailure is the failure model-mesh records for a load of model id (record mr) in instance
// in, or "" when the load succeeds (or has not ended): a real runtime's answer; else, simulated,
// the puller's, which fails before anything loads; the timeout's; the loader's.
func (c *cluster) loadFailure(id string, mr *modelRecord, in *instance) string {
	if in.runtime != nil {
		return c.spans[copyKey(id, in.id)].failure
	}
	if msg := c.storageFailure(mr, in); msg != "" {
		return msg
	}
	if _, timedOut := c.loadEnd(mr, in); timedOut {
		return timeoutError(id, in.loadTimeout)
	}
	if c.loadFails(mr) {
		return loaderError(id, mr.MPath)
	}
	return ""
}

// storageFailure is the puller's error for a model whose storage key is not in the storage-config
// Secret the instance mounts (modelmesh-runtime-adapter v0.12.0 puller.ProcessLoadModelRequest and
// PullerConfiguration.GetStorageConfiguration), as model-mesh records it: the adapter returns a
// plain error, which gRPC sends as UNKNOWN and failureMessageFromException reduces to its text.
// Without a storage key the puller tries a default one and goes on without it.
func (c *cluster) storageFailure(mr *modelRecord, in *instance) string {
	var key struct {
		StorageKey *string `json:"storage_key"`
	}
	if in.storageSecret == "" || json.Unmarshal([]byte(mr.EncKey), &key) != nil || key.StorageKey == nil {
		return ""
	}
	if _, ok := c.secretData(in.storageSecret)[*key.StorageKey]; ok {
		return ""
	}
	return fmt.Sprintf("Did not find storage config for key %s: Storage secretKey not found: %s", *key.StorageKey, *key.StorageKey)
}

// loadFails reports whether the next load of mr fails: always for paths with FailPathMarker; for
// paths with FailOncePathMarker, while no failure is recorded.
func (c *cluster) loadFails(mr *modelRecord) bool {
	if c.opts.FailOncePathMarker != "" && strings.Contains(mr.MPath, c.opts.FailOncePathMarker) {
		return !mr.hasLoadFailure()
	}
	return c.opts.FailPathMarker != "" && strings.Contains(mr.MPath, c.opts.FailPathMarker)
}

// loaderError is the message a failed load of model id leaves in the registry, as the MLServer
// adapter (modelmesh-runtime-adapter v0.12.0) fails a storage path without objects: its embedded
// puller downloads nothing without an error ("no objects to download",
// pullman/storageproviders/s3/downloader.go) and points the model path at <ROOT_MODEL_DIR>/<model
// id>/<last element of the path> (model-serving-puller/puller/puller.go; ROOT_MODEL_DIR /models);
// the adapter's layout step then cannot stat it (model-mesh-mlserver-adapter/server/server.go,
// adaptModelLayoutForRuntime). The plain error goes out as UNKNOWN, which model-mesh's
// failureMessageFromException reduces to its text. Checked against the real puller: internal/puller.
func loaderError(id, storagePath string) string {
	name := path.Base(storagePath)
	if name == "." || name == "/" {
		name = "_model"
	}
	local := "/models/" + id + "/" + name
	return fmt.Sprintf("Failed to load Model due to adapter error: Error calling stat on %s: stat %s: no such file or directory", local, local)
}
