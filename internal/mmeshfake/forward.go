package mmeshfake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
)

// Inference through model-mesh (process mode): a request to any method other than the external
// API's is forwarded to the runtime's data endpoint, as ModelMeshApi.startCall and
// SidecarModelMesh.callCustomMethod (model-mesh v0.12.0) do it: the model is named by the field
// the dataplane config's idExtractionPath points at (a vmodel id when vModelId) or by the
// mm-model-id / mm-vmodel-id header; a vmodel resolves to its active model
// (VModelManager.resolveVModelId); the model is loaded here if it is not yet (invokeModel's cache
// miss) and the request waits for it; the runtime gets the request with the model id put into the
// field its runtimeStatus's methodInfos name (ProtoSplicer.spliceId) and in the mm-model-id header
// (GrpcSupport.replaceHeaders).

// Header names of ModelMeshApi (MODEL_ID_HEADER_KEY, VMODEL_ID_HEADER_KEY).
const (
	modelIDHeader  = "mm-model-id"
	vmodelIDHeader = "mm-vmodel-id"
)

// rpcConfig is one entry of the dataplane config (DataplaneApiConfig.RpcConfig).
type rpcConfig struct {
	IDExtractionPath []uint64 `json:"idExtractionPath"`
	VModelID         bool     `json:"vModelId"`
}

// dataplaneConfig is the document the controller mounts at MM_DATAPLANE_CONFIG_PATH
// (modelmesh-serving controllers/modelmesh/cluster_config.go dataPlaneApiJsonConfigBytes).
type dataplaneConfig struct {
	RPCConfigs     map[string]rpcConfig `json:"rpcConfigs"`
	AllowOtherRPCs bool                 `json:"allowOtherRpcs"`
}

// readDataplaneConfig reads it; without a path every method is allowed and names its model by
// header, as model-mesh runs without MM_DATAPLANE_CONFIG_PATH.
func readDataplaneConfig(path string) (dataplaneConfig, error) {
	if path == "" {
		return dataplaneConfig{AllowOtherRPCs: true}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return dataplaneConfig{}, fmt.Errorf("MM_DATAPLANE_CONFIG_PATH: %w", err)
	}
	var cfg dataplaneConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return dataplaneConfig{}, fmt.Errorf("MM_DATAPLANE_CONFIG_PATH %s: %w", path, err)
	}
	return cfg, nil
}

type forwarder struct {
	c       *cluster
	in      *instance
	serving *grpc.ClientConn
	rpcs    dataplaneConfig
	// inject is the runtime's methodInfos: method → the field path that gets the model id.
	inject map[string][]uint64
}

// handle serves one forwarded call (unary only).
func (f *forwarder) handle(_ any, stream grpc.ServerStream) error {
	full, _ := grpc.MethodFromServerStream(stream)
	method := strings.TrimPrefix(full, "/")
	rpc, known := f.rpcs.RPCConfigs[method]
	if !known && !f.rpcs.AllowOtherRPCs {
		return status.Error(codes.Unimplemented, "") // ModelMeshApi.startCall: RPC method not allowed
	}
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	id, isVModel, err := modelIDOf(md, rpc, req)
	if err != nil {
		return err
	}
	model := id
	if isVModel {
		if model, err = f.resolveVModel(id); err != nil {
			return err
		}
	}
	if err := f.waitLoaded(ctx, model); err != nil {
		return err
	}
	out, err := f.invoke(ctx, method, md, model, req)
	if err != nil {
		return err
	}
	return stream.SendMsg(&out)
}

// modelIDOf finds the model a request names (ModelMeshApi.startCall, getModelIdsFromHeaders).
func modelIDOf(md metadata.MD, rpc rpcConfig, req []byte) (id string, isVModel bool, err error) {
	if len(rpc.IDExtractionPath) > 0 {
		if id = extractID(req, rpc.IDExtractionPath); id != "" {
			return id, rpc.VModelID, nil
		}
	}
	mids, vmids := md.Get(modelIDHeader), md.Get(vmodelIDHeader)
	switch {
	case len(mids) > 0 && len(vmids) > 0:
		return "", false, status.Error(codes.InvalidArgument, "must include only one of model id and vmodel id")
	case len(vmids) > 0:
		id, isVModel = vmids[0], true
	case len(mids) > 0:
		id = mids[0]
	default:
		return "", false, status.Error(codes.InvalidArgument, "must include "+modelIDHeader+" header")
	}
	if id == "" {
		return "", false, errInvalidModelID
	}
	return id, isVModel, nil
}

// resolveVModel is VModelManager.resolveVModelId: the vmodel's active model.
func (f *forwarder) resolveVModel(vmid string) (string, error) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	vmr, err := f.c.getVModel(vmid)
	if err != nil {
		return "", internalErr(err)
	}
	if vmr == nil {
		return "", status.Error(codes.NotFound, "vmodel not found") // ModelMeshApi.VMODEL_NOT_FOUND_STATUS
	}
	return vmr.ActiveModel, nil
}

// waitLoaded returns once model is loaded in this instance, loading it here first when it is
// not; a failed load answers INTERNAL with its message (ModelLoadException, a TException, in
// ModelMeshApi.toStatus), a missing model NOT_FOUND "model not found".
func (f *forwarder) waitLoaded(ctx context.Context, model string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := f.loadedHere(model)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-tick.C:
		}
	}
}

func (f *forwarder) loadedHere(model string) (bool, error) {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	mr, err := c.getModel(model)
	if err != nil {
		return false, internalErr(err)
	}
	if mr == nil {
		return false, status.Error(codes.NotFound, "model not found") // ModelMeshApi.MODEL_NOT_FOUND_STATUS
	}
	si := c.status(model, mr)
	switch si.GetStatus() {
	case mmesh.ModelStatusInfo_LOADED:
		return true, nil
	case mmesh.ModelStatusInfo_LOADING:
		return false, nil
	}
	if si, err = c.ensureLoaded(model, mr, nil); err != nil {
		return false, internalErr(err)
	}
	if si.GetStatus() == mmesh.ModelStatusInfo_LOADING_FAILED {
		msg := strings.Join(si.GetErrors(), "; ")
		if msg == "" && mr.hasLoadFailure() {
			msg = mr.Fails[mr.mostRecentFailure()].Msg
		}
		return false, status.Error(codes.Internal, msg)
	}
	return false, nil
}

// invoke sends req to the runtime's data endpoint for model. The runtime's error goes back with
// its code and, as SidecarModelMesh.handleGrpcException words it, "<method>: <CODE>: <description>".
func (f *forwarder) invoke(ctx context.Context, method string, in metadata.MD, model string, req []byte) ([]byte, error) {
	if strings.HasPrefix(method, puller.Service+"/") {
		return nil, status.Error(codes.Unimplemented, "Method not found or not permitted: "+method)
	}
	if path, ok := f.inject[method]; ok {
		if len(path) > 0 {
			req = spliceID(req, path, model)
		}
	} else if len(f.inject) > 0 {
		// The methodInfos are an allow-list (allowAnyMethod is not in the v0.12.0 adapter's API).
		return nil, status.Error(codes.Unimplemented, "Method not found or not permitted: "+method)
	}
	out := metadata.MD{}
	for k, v := range in {
		if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") || k == modelIDHeader || k == vmodelIDHeader ||
			k == "content-type" || k == "user-agent" || k == "te" {
			continue // GrpcSupport.ignoreHeader
		}
		out[k] = v
	}
	out.Set(modelIDHeader, model)
	var resp []byte
	if err := f.serving.Invoke(metadata.NewOutgoingContext(ctx, out), "/"+method, &req, &resp); err != nil {
		st := status.Convert(err)
		return nil, status.Error(st.Code(), method+": "+javaStatus(st))
	}
	return resp, nil
}

// extractID is ProtoSplicer.extractId: the string at the field path, "" when it is not set.
func extractID(msg []byte, path []uint64) string {
	var found []byte
	_ = puller.EachField(msg, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if uint64(num) == path[0] && typ == protowire.BytesType {
			found = v
		}
		return nil
	})
	if found == nil {
		return ""
	}
	if len(path) == 1 {
		return string(found)
	}
	return extractID(found, path[1:])
}

// spliceID is ProtoSplicer.spliceId: msg with the string at the field path set to id, the
// enclosing messages' lengths adjusted.
func spliceID(msg []byte, path []uint64, id string) []byte {
	var out []byte
	done := false
	for b := msg; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return msg // not a message: sent as it came, as the runtime will tell
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return msg
		}
		field := b[:n+m]
		b = b[n+m:]
		if done || uint64(num) != path[0] || typ != protowire.BytesType {
			out = append(out, field...)
			continue
		}
		done = true
		inner, _ := protowire.ConsumeBytes(field[n:])
		out = appendSpliced(out, path, inner, id)
	}
	if !done {
		out = appendSpliced(out, path, nil, id)
	}
	return out
}

func appendSpliced(out []byte, path []uint64, inner []byte, id string) []byte {
	out = protowire.AppendTag(out, protowire.Number(path[0]), protowire.BytesType)
	if len(path) == 1 {
		return protowire.AppendString(out, id)
	}
	return protowire.AppendBytes(out, spliceID(inner, path[1:], id))
}
