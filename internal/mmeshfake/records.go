package mmeshfake

import (
	"encoding/json"
	"sort"
	"strings"
)

// modelRecord is model-mesh's registry record of one concrete model, stored as JSON at
// <root_prefix>/mm/<service>/registry/<modelId>. Field names and the omission of default values
// follow model-mesh's ModelRecord and kv-utils' JsonSerializer (Jackson with Include.NON_DEFAULT):
// https://github.com/kserve/modelmesh/blob/v0.12.0/src/main/java/com/ibm/watson/modelmesh/ModelRecord.java
// https://github.com/IBM/kv-utils/blob/main/src/main/java/com/ibm/watson/kvutils/JsonSerializer.java
type modelRecord struct {
	Type   string `json:"type,omitempty"`
	EncKey string `json:"encKey,omitempty"`
	MPath  string `json:"mPath,omitempty"`
	// InstanceIDs maps an instance id to the time (ms) its copy started loading. model-mesh adds the
	// entry when a load starts and removes it when the load fails or the copy is unloaded; there is
	// no record write when a load completes (ModelMesh.loadLocal, CacheEntry.failed).
	InstanceIDs map[string]int64 `json:"instanceIds,omitempty"`
	// FailedIn maps an instance id to the time (ms) a load failed there; Fails holds the messages.
	FailedIn map[string]int64       `json:"failedIn,omitempty"`
	Fails    map[string]failureInfo `json:"fails,omitempty"`
	Refs     int                    `json:"refs,omitempty"`
	AutoDel  bool                   `json:"autoDel,omitempty"`
	LastUsed int64                  `json:"lu,omitempty"`
}

type failureInfo struct {
	Msg string `json:"msg,omitempty"`
}

// vmodelRecord is model-mesh's VModelRecord, stored at <root_prefix>/mm/<service>/vmodels/<vModelId>.
// The controller reads only "o" (the owner) from it (modelmesh-serving pkg/mmesh/modelmesh_events.go).
// https://github.com/kserve/modelmesh/blob/v0.12.0/src/main/java/com/ibm/watson/modelmesh/VModelRecord.java
type vmodelRecord struct {
	Owner       string `json:"o,omitempty"`
	ActiveModel string `json:"amid,omitempty"`
	TargetModel string `json:"tmid,omitempty"`
	// Failed can only be true while ActiveModel != TargetModel.
	Failed bool `json:"failed,omitempty"`
}

func (v *vmodelRecord) inTransition() bool { return v.ActiveModel != v.TargetModel }

func (m *modelRecord) hasLoadFailure() bool { return len(m.FailedIn) > 0 }

// addLoadFailure follows ModelRecord.addLoadFailure: the instance moves from the copies to the failures.
func (m *modelRecord) addLoadFailure(instance string, at int64, msg string) {
	if m.FailedIn == nil {
		m.FailedIn = map[string]int64{}
	}
	m.FailedIn[instance] = at
	if msg != "" {
		if m.Fails == nil {
			m.Fails = map[string]failureInfo{}
		}
		m.Fails[instance] = failureInfo{Msg: msg}
	} else {
		delete(m.Fails, instance)
	}
	delete(m.InstanceIDs, instance)
}

func (m *modelRecord) removeLoadFailure(instance string) {
	delete(m.FailedIn, instance)
	delete(m.Fails, instance)
}

// mostRecentFailure is ModelMesh.getMostRecent over the failed instances.
func (m *modelRecord) mostRecentFailure() string {
	best, bestAt := "", int64(-1)
	for id, at := range m.FailedIn {
		if at > bestAt || (at == bestAt && id < best) {
			best, bestAt = id, at
		}
	}
	return best
}

func marshalRecord(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings, ints and maps always marshal
	}
	return b
}

// requiredLabelsString renders labels as Java's Arrays.toString does ("[a, b]"), which is how
// model-mesh prints them in its no-home message (ModelMesh.verifyLocalTypeConstraintsBeforeLoad).
func requiredLabelsString(labels []string) string {
	return "[" + strings.Join(labels, ", ") + "]"
}

// sortedKeys returns the keys of m in order, for deterministic choices and messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
