package mmeshfake

import (
	"sort"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
)

// loadError is model-mesh's ModelLoadException: a message and, when the failure happened in a
// particular instance, that instance's id.
type loadError struct {
	msg      string
	instance string
}

// makeStatusInfo builds a ModelStatusInfo the way ModelMesh.makeStatusInfo and
// ModelMeshApi.convertStatusInfo do (modelmesh v0.12.0):
//   - every registered copy is listed with status UNKNOWN, because model-mesh "can't yet
//     distinguish precisely between LOADED and LOADING" per copy, and the time its load started;
//   - every recorded failure is listed as LOADING_FAILED with its failure time;
//   - errors are the failure messages, most recent first; with no recorded failures, the message of
//     the load error at hand (e.g. the no-home message), if any;
//   - copies are in reverse chronological order.
func makeStatusInfo(status mmesh.ModelStatusInfo_ModelStatus, le *loadError, mr *modelRecord, now int64) *mmesh.ModelStatusInfo {
	copies := map[string]int64{}
	failTimes := map[string]int64{}
	failMsgs := map[string]string{}
	if mr != nil {
		for id, at := range mr.InstanceIDs {
			copies[id] = at
		}
		for id, at := range mr.FailedIn {
			failTimes[id] = at
		}
		for id, fi := range mr.Fails {
			failMsgs[id] = fi.Msg
		}
	}
	if le != nil && le.instance != "" {
		if _, known := failTimes[le.instance]; !known {
			failTimes[le.instance] = now
			failMsgs[le.instance] = le.msg
			delete(copies, le.instance)
		}
	}
	info := &mmesh.ModelStatusInfo{Status: status}
	for id, at := range copies {
		info.ModelCopyInfos = append(info.ModelCopyInfos, &mmesh.ModelStatusInfo_ModelCopyInfo{
			Location: id, CopyStatus: mmesh.ModelStatusInfo_UNKNOWN, Time: uint64(at)})
	}
	if len(failTimes) > 0 {
		ids := sortedKeys(failMsgs)
		sort.SliceStable(ids, func(i, j int) bool { return failTimes[ids[i]] > failTimes[ids[j]] })
		for _, id := range ids {
			info.Errors = append(info.Errors, failMsgs[id])
		}
		for id, at := range failTimes {
			info.ModelCopyInfos = append(info.ModelCopyInfos, &mmesh.ModelStatusInfo_ModelCopyInfo{
				Location: id, CopyStatus: mmesh.ModelStatusInfo_LOADING_FAILED, Time: uint64(at)})
		}
	} else if le != nil && le.msg != "" {
		info.Errors = []string{le.msg}
	}
	sort.SliceStable(info.ModelCopyInfos, func(i, j int) bool {
		a, b := info.ModelCopyInfos[i], info.ModelCopyInfos[j]
		if a.Time != b.Time {
			return a.Time > b.Time
		}
		return a.Location < b.Location
	})
	return info
}

// vmodelStatus is VModelManager.statusFromRecord: DEFINED when active == target, otherwise
// TRANSITIONING, or TRANSITION_FAILED once the target's load failed.
func vmodelStatus(vmr *vmodelRecord, active, target *mmesh.ModelStatusInfo) *mmesh.VModelStatusInfo {
	if vmr == nil {
		return &mmesh.VModelStatusInfo{}
	}
	st := mmesh.VModelStatusInfo_DEFINED
	if vmr.inTransition() {
		st = mmesh.VModelStatusInfo_TRANSITIONING
		if vmr.Failed {
			st = mmesh.VModelStatusInfo_TRANSITION_FAILED
		}
	}
	return &mmesh.VModelStatusInfo{
		Status:            st,
		ActiveModelId:     vmr.ActiveModel,
		TargetModelId:     vmr.TargetModel,
		ActiveModelStatus: active,
		TargetModelStatus: target,
		Owner:             vmr.Owner,
	}
}
