package rpcprofile

import (
	"context"
	"runtime/pprof"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// recorder answers the wrapped RPCs with the labels its context carried.
type recorder struct {
	tfprotov6.ProviderServer
	rpc, typeName string
}

func (r *recorder) ReadResource(ctx context.Context, _ *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	r.rpc, _ = pprof.Label(ctx, LabelRPC)
	r.typeName, _ = pprof.Label(ctx, LabelType)
	return &tfprotov6.ReadResourceResponse{}, nil
}

func (r *recorder) GetProviderSchema(ctx context.Context, _ *tfprotov6.GetProviderSchemaRequest) (*tfprotov6.GetProviderSchemaResponse, error) {
	r.rpc, _ = pprof.Label(ctx, LabelRPC)
	r.typeName, _ = pprof.Label(ctx, LabelType)
	return &tfprotov6.GetProviderSchemaResponse{}, nil
}

func TestRPCsRunUnderLabels(t *testing.T) {
	r := &recorder{}
	s := labelled{r}
	resp, err := s.ReadResource(context.Background(), &tfprotov6.ReadResourceRequest{TypeName: "asm_inference_service"})
	if err != nil || resp == nil {
		t.Fatalf("ReadResource: %v, %v", resp, err)
	}
	if r.rpc != "ReadResource" || r.typeName != "asm_inference_service" {
		t.Errorf("ReadResource ran under rpc=%q type=%q", r.rpc, r.typeName)
	}
	if _, err := s.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	if r.rpc != "GetProviderSchema" || r.typeName != "" {
		t.Errorf("GetProviderSchema ran under rpc=%q type=%q", r.rpc, r.typeName)
	}
}
