package mmeshfake

import (
	"context"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// api serves model-mesh's external gRPC API (proto/mmesh/model-mesh-external.proto) for one
// instance. Every instance of a cluster answers from the shared registry, as any model-mesh pod
// behind the Service does. The logic follows ModelMeshApi.java and VModelManager.java of
// kserve/modelmesh v0.12.0.
type api struct {
	mmesh.UnimplementedModelMeshServer
	c *cluster
}

var (
	errInvalidModelID = status.Error(codes.InvalidArgument, "modelId must be provided")
	errModelNotFound  = status.Error(codes.NotFound, "model not found")
)

func internalErr(err error) error {
	return status.Errorf(codes.Internal, "registry operation failed: %v", err)
}

// modelInfoOrNil treats an empty ModelInfo like an absent one (VModelManager.EMPTY_MI).
func modelInfoOrNil(mi *mmesh.ModelInfo) *mmesh.ModelInfo {
	if mi == nil || proto.Equal(mi, &mmesh.ModelInfo{}) {
		return nil
	}
	return mi
}

// SetVModel is VModelManager.updateVModel.
func (a *api) SetVModel(_ context.Context, req *mmesh.SetVModelRequest) (*mmesh.VModelStatusInfo, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	vmid, targetID := req.GetVModelId(), req.GetTargetModelId()
	mi := modelInfoOrNil(req.GetModelInfo())
	owner := req.GetOwner()
	expected := req.GetExpectedTargetModelId()
	if vmid == "" {
		return nil, status.Error(codes.InvalidArgument, "Must provide vModelId")
	}
	if targetID == "" {
		return nil, status.Error(codes.InvalidArgument, "Must provide target modelId for vmodel "+vmid)
	}
	if mi != nil && mi.GetType() == "" {
		// ModelMesh.validateNewModelType throws InvalidInputException, which setVModel passes to
		// gRPC as a non-status throwable: UNKNOWN.
		return nil, status.Error(codes.Unknown, "Must provide non-empty model type string")
	}
	now := nowMs()
	lastUsed := now - lastUsedAgeOnAdd
	if !req.GetLoadNow() {
		lastUsed = now - 6*lastUsedAgeOnAdd
	}

	target, err := c.getModel(targetID)
	if err != nil {
		return nil, internalErr(err)
	}
	vmr, err := c.getVModel(vmid)
	if err != nil {
		return nil, internalErr(err)
	}
	if expected != "" {
		switch {
		case vmr == nil && expected != targetID:
			return nil, status.Errorf(codes.FailedPrecondition, "vmodel %s not found", vmid)
		case vmr != nil && owner != "" && vmr.Owner != owner:
			return nil, status.Errorf(codes.AlreadyExists, "vmodel %s already exists with different owner \"%s\"", vmid, owner)
		case vmr != nil && expected != vmr.TargetModel && targetID != vmr.TargetModel:
			return nil, status.Errorf(codes.FailedPrecondition, "Existing target model %s does not match expected %s", vmr.TargetModel, expected)
		}
	}
	if mi == nil && target == nil {
		return nil, status.Errorf(codes.NotFound, "Target model %s not found", targetID)
	}
	if mi != nil && target != nil &&
		(mi.GetType() != target.Type || mi.GetPath() != target.MPath || mi.GetKey() != target.EncKey) {
		return nil, status.Errorf(codes.AlreadyExists, "Target model %s already exists with different attribute values", targetID)
	}

	weCreatedVModel, weCreatedTarget, write := false, false, true
	targetCopyCount := 0
	var prevActive *modelRecord
	var prevActiveID string
	var release []string
	if vmr != nil {
		if owner != "" && vmr.Owner != owner {
			return nil, status.Errorf(codes.AlreadyExists, "vmodel %s already exists with different owner \"%s\"", vmid, vmr.Owner)
		}
		prevTarget := vmr.TargetModel
		prevActiveID = vmr.ActiveModel
		activeMatches := targetID == prevActiveID
		if targetID != prevTarget {
			if expected != "" && expected != prevTarget {
				return nil, status.Errorf(codes.FailedPrecondition, "Existing target model %s does not match expected %s", prevTarget, expected)
			}
			vmr.TargetModel = targetID
			if prevTarget != prevActiveID {
				release = append(release, prevTarget)
			}
		} else if activeMatches || !req.GetForce() {
			write = false // nothing to update
			if !activeMatches {
				if prevActive, err = c.getModel(prevActiveID); err != nil {
					return nil, internalErr(err)
				}
				if prevActive != nil {
					targetCopyCount = len(prevActive.InstanceIDs)
				}
			}
		}
		if write {
			if !activeMatches {
				if prevActive, err = c.getModel(prevActiveID); err != nil {
					return nil, internalErr(err)
				}
				if prevActive != nil {
					targetCopyCount = len(prevActive.InstanceIDs)
				}
				// Switch at once when forced or when the active model is not loaded anywhere.
				if req.GetForce() || targetCopyCount == 0 ||
					(target != nil && targetCopyCount == 1 && c.status(targetID, target).Status == mmesh.ModelStatusInfo_LOADED) {
					vmr.ActiveModel = targetID
					release = append(release, prevActiveID)
				}
			}
			vmr.Failed = false
		}
	} else {
		if req.GetUpdateOnly() {
			return nil, status.Errorf(codes.NotFound, "vmodel %s not found", vmid)
		}
		if owner == "" {
			owner = c.defaultOwner
		}
		vmr = &vmodelRecord{Owner: owner, ActiveModel: targetID, TargetModel: targetID}
		weCreatedVModel = true
	}

	if write {
		if target == nil {
			target = &modelRecord{Type: mi.GetType(), EncKey: mi.GetKey(), MPath: mi.GetPath(), AutoDel: req.GetAutoDeleteTargetModel()}
			weCreatedTarget = true
		}
		target.LastUsed = lastUsed
		if prevActive != nil && prevActive.LastUsed > 0 {
			target.LastUsed = prevActive.LastUsed
		}
		target.Refs++
		ops := []clientv3.Op{c.putVModel(vmid, vmr), c.putModel(targetID, target)}
		for _, id := range release {
			mr := prevActive // the record of the replaced active model was read above
			if id != prevActiveID || mr == nil {
				if mr, err = c.getModel(id); err != nil {
					return nil, internalErr(err)
				}
			}
			ops = append(ops, c.releaseModel(id, mr)...)
		}
		if err := c.commit(ops...); err != nil {
			return nil, internalErr(err)
		}
		c.opts.Logf("mmeshfake: %s/%s: vmodel %s → active %s, target %s", c.namespace, c.service, vmid, vmr.ActiveModel, vmr.TargetModel)
	}

	count := targetCopyCount
	if count == 0 && req.GetLoadNow() {
		count = 1
	}
	inTransition := !weCreatedVModel && vmr.inTransition()
	var activeStatus, targetStatus *mmesh.ModelStatusInfo
	if !inTransition {
		switch {
		case count > 0:
			if activeStatus, err = c.ensureLoaded(targetID, target, nil); err != nil {
				return nil, internalErr(err)
			}
		case weCreatedTarget:
			activeStatus = &mmesh.ModelStatusInfo{Status: mmesh.ModelStatusInfo_NOT_LOADED}
		default:
			activeStatus = c.status(targetID, target)
		}
	} else {
		// The leader's PendingTransition starts on the vmodel's update (VModelManager.processVModel).
		if !vmr.Failed {
			if err := c.advanceTransition(vmid, vmr); err != nil {
				return nil, internalErr(err)
			}
		}
		if vmr, err = c.getVModel(vmid); err != nil || vmr == nil {
			return nil, internalErr(err)
		}
		active, err := c.getModel(vmr.ActiveModel)
		if err != nil {
			return nil, internalErr(err)
		}
		activeStatus = c.status(vmr.ActiveModel, active)
		if targetStatus, err = c.targetStatus(vmr); err != nil {
			return nil, internalErr(err)
		}
	}
	return vmodelStatus(vmr, activeStatus, targetStatus), nil
}

// targetStatus is VModelManager.resolveTargetModelStatusInfo: a vmodel's target is always being
// loaded, so it shows LOADING, or LOADING_FAILED once the transition failed and no copy is left.
func (c *cluster) targetStatus(vmr *vmodelRecord) (*mmesh.ModelStatusInfo, error) {
	if !vmr.inTransition() {
		return nil, nil
	}
	target, err := c.getModel(vmr.TargetModel)
	if err != nil {
		return nil, err
	}
	if target == nil {
		return &mmesh.ModelStatusInfo{Status: mmesh.ModelStatusInfo_NOT_FOUND}, nil
	}
	st := mmesh.ModelStatusInfo_LOADING
	if vmr.Failed && target.hasLoadFailure() && len(target.InstanceIDs) == 0 {
		st = mmesh.ModelStatusInfo_LOADING_FAILED
	}
	return makeStatusInfo(st, nil, target, nowMs()), nil
}

// GetVModelStatus is VModelManager.getVModelStatus: an absent vmodel, or one of another owner,
// answers an empty VModelStatusInfo (status NOT_FOUND).
func (a *api) GetVModelStatus(_ context.Context, req *mmesh.GetVModelStatusRequest) (*mmesh.VModelStatusInfo, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	vmr, err := c.getVModel(req.GetVModelId())
	if err != nil {
		return nil, internalErr(err)
	}
	if vmr == nil || req.GetOwner() != "" && vmr.Owner != req.GetOwner() {
		return &mmesh.VModelStatusInfo{}, nil
	}
	active, err := c.getModel(vmr.ActiveModel)
	if err != nil {
		return nil, internalErr(err)
	}
	ts, err := c.targetStatus(vmr)
	if err != nil {
		return nil, internalErr(err)
	}
	return vmodelStatus(vmr, c.status(vmr.ActiveModel, active), ts), nil
}

// DeleteVModel is VModelManager.deleteVModel: deleting an absent vmodel, or one of another
// owner, succeeds without effect; otherwise its models lose a reference each.
func (a *api) DeleteVModel(_ context.Context, req *mmesh.DeleteVModelRequest) (*mmesh.DeleteVModelResponse, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	vmid := req.GetVModelId()
	vmr, err := c.getVModel(vmid)
	if err != nil {
		return nil, internalErr(err)
	}
	if vmr == nil || req.GetOwner() != "" && vmr.Owner != req.GetOwner() {
		return &mmesh.DeleteVModelResponse{}, nil
	}
	ops := []clientv3.Op{clientv3.OpDelete(c.vmodelKey(vmid))}
	ids := []string{vmr.ActiveModel}
	if vmr.inTransition() {
		ids = append(ids, vmr.TargetModel)
	}
	for _, id := range ids {
		mr, err := c.getModel(id)
		if err != nil {
			return nil, internalErr(err)
		}
		ops = append(ops, c.releaseModel(id, mr)...)
	}
	if err := c.commit(ops...); err != nil {
		return nil, internalErr(err)
	}
	c.opts.Logf("mmeshfake: %s/%s: vmodel %s deleted", c.namespace, c.service, vmid)
	return &mmesh.DeleteVModelResponse{}, nil
}

// RegisterModel is ModelMesh.registerModel.
func (a *api) RegisterModel(_ context.Context, req *mmesh.RegisterModelRequest) (*mmesh.ModelStatusInfo, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	id, mi := req.GetModelId(), req.GetModelInfo()
	if id == "" {
		return nil, errInvalidModelID
	}
	if mi.GetType() == "" {
		return nil, status.Error(codes.InvalidArgument, "Must provide non-empty model type string")
	}
	mr, err := c.getModel(id)
	if err != nil {
		return nil, internalErr(err)
	}
	if mr != nil {
		if mr.Type != mi.GetType() || mr.EncKey != mi.GetKey() || mr.MPath != mi.GetPath() {
			return nil, status.Error(codes.AlreadyExists, "Model already exists with different attribute values")
		}
	} else {
		mr = &modelRecord{Type: mi.GetType(), EncKey: mi.GetKey(), MPath: mi.GetPath(), LastUsed: nowMs() - lastUsedAgeOnAdd}
		if err := c.commit(c.putModel(id, mr)); err != nil {
			return nil, internalErr(err)
		}
		if !req.GetLoadNow() {
			return &mmesh.ModelStatusInfo{Status: mmesh.ModelStatusInfo_NOT_LOADED}, nil
		}
	}
	if !req.GetLoadNow() {
		return c.status(id, mr), nil
	}
	si, err := c.ensureLoaded(id, mr, nil)
	if err != nil {
		return nil, internalErr(err)
	}
	return si, nil
}

// UnregisterModel is ModelMesh.deleteModel: a model that vmodels still reference is refused.
func (a *api) UnregisterModel(_ context.Context, req *mmesh.UnregisterModelRequest) (*mmesh.UnregisterModelResponse, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	id := req.GetModelId()
	if id == "" {
		return nil, errInvalidModelID
	}
	mr, err := c.getModel(id)
	if err != nil {
		return nil, internalErr(err)
	}
	if mr != nil {
		if mr.Refs > 0 {
			return nil, status.Errorf(codes.FailedPrecondition, "Model %s has referents", id)
		}
		if err := c.commit(clientv3.OpDelete(c.modelKey(id))); err != nil {
			return nil, internalErr(err)
		}
	}
	return &mmesh.UnregisterModelResponse{}, nil
}

// GetModelStatus is ModelMesh.getStatus.
func (a *api) GetModelStatus(_ context.Context, req *mmesh.GetStatusRequest) (*mmesh.ModelStatusInfo, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.GetModelId() == "" {
		return nil, errInvalidModelID
	}
	mr, err := c.getModel(req.GetModelId())
	if err != nil {
		return nil, internalErr(err)
	}
	return c.status(req.GetModelId(), mr), nil
}

// EnsureLoaded is ModelMesh.ensureLoaded.
func (a *api) EnsureLoaded(_ context.Context, req *mmesh.EnsureLoadedRequest) (*mmesh.ModelStatusInfo, error) {
	c := a.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.GetModelId() == "" {
		return nil, errInvalidModelID
	}
	mr, err := c.getModel(req.GetModelId())
	if err != nil {
		return nil, internalErr(err)
	}
	if mr == nil {
		return nil, errModelNotFound
	}
	si, err := c.ensureLoaded(req.GetModelId(), mr, nil)
	if err != nil {
		return nil, internalErr(err)
	}
	return si, nil
}
