// Package rpcprofile serves the provider like providerserver.Serve, with planfast in front, and when EnvDir names a
// directory, writes a CPU profile of the whole provider process there with every resource RPC's
// samples labelled by RPC and type name, so a benchmark can say which call costs what.
package rpcprofile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/planfast"
)

// EnvDir names the directory the profiles go to, one cpu-<pid>.pb.gz per provider process:
// terraform starts the provider several times per command, each with the same environment.
const EnvDir = "TF_ASM_CPUPROFILE_DIR"

// Label keys on every sample taken inside a wrapped RPC.
const (
	LabelRPC  = "rpc"
	LabelType = "type"
)

// Serve is providerserver.Serve (protocol 6) with planfast's no-change plans in front of the
// framework; unless EnvDir is set, it adds nothing else, so normal runs pay nothing. Profiled, the
// profile is flushed when the plugin server returns, which it does on terraform's graceful shutdown
// (go-plugin's Shutdown RPC) before the process exits.
func Serve(ctx context.Context, providerFunc func() provider.Provider, opts providerserver.ServeOpts) error {
	var serveOpts []tf6server.ServeOpt
	if opts.Debug {
		serveOpts = append(serveOpts, tf6server.WithManagedDebug())
	}
	newServer := planfast.NewProtocol6(providerFunc)
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return tf6server.Serve(opts.Address, func() tfprotov6.ProviderServer { return must(newServer()) }, serveOpts...)
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pb.gz", os.Getpid())))
	if err != nil {
		return fmt.Errorf("%s: %w", EnvDir, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return errors.Join(err, f.Close())
	}
	err = tf6server.Serve(opts.Address, func() tfprotov6.ProviderServer { return labelled{must(newServer())} }, serveOpts...)
	pprof.StopCPUProfile()
	return errors.Join(err, f.Close())
}

// must: planfast.NewProtocol6's servers never fail to build (providerserver.NewProtocol6WithError
// returns no error either); tf6server wants a server without one.
func must(s tfprotov6.ProviderServer, err error) tfprotov6.ProviderServer {
	if err != nil {
		panic(err)
	}
	return s
}

// labelled runs the RPCs that scale with the configuration under pprof labels. Goroutines an RPC
// starts inherit them; the GC's background workers and gRPC's transport do not, so their CPU stays
// unlabelled. Embedding the interface hides the optional list, action and state-store servers,
// which this provider does not implement.
type labelled struct{ tfprotov6.ProviderServer }

func do[Req, Resp any](ctx context.Context, rpc, typeName string, f func(context.Context, Req) (Resp, error), req Req) (Resp, error) {
	var resp Resp
	var err error
	pprof.Do(ctx, pprof.Labels(LabelRPC, rpc, LabelType, typeName), func(ctx context.Context) { resp, err = f(ctx, req) })
	return resp, err
}

func (s labelled) GetProviderSchema(ctx context.Context, req *tfprotov6.GetProviderSchemaRequest) (*tfprotov6.GetProviderSchemaResponse, error) {
	return do(ctx, "GetProviderSchema", "", s.ProviderServer.GetProviderSchema, req)
}

func (s labelled) ValidateProviderConfig(ctx context.Context, req *tfprotov6.ValidateProviderConfigRequest) (*tfprotov6.ValidateProviderConfigResponse, error) {
	return do(ctx, "ValidateProviderConfig", "", s.ProviderServer.ValidateProviderConfig, req)
}

func (s labelled) ConfigureProvider(ctx context.Context, req *tfprotov6.ConfigureProviderRequest) (*tfprotov6.ConfigureProviderResponse, error) {
	return do(ctx, "ConfigureProvider", "", s.ProviderServer.ConfigureProvider, req)
}

func (s labelled) ValidateResourceConfig(ctx context.Context, req *tfprotov6.ValidateResourceConfigRequest) (*tfprotov6.ValidateResourceConfigResponse, error) {
	return do(ctx, "ValidateResourceConfig", req.TypeName, s.ProviderServer.ValidateResourceConfig, req)
}

func (s labelled) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	return do(ctx, "UpgradeResourceState", req.TypeName, s.ProviderServer.UpgradeResourceState, req)
}

func (s labelled) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	return do(ctx, "ReadResource", req.TypeName, s.ProviderServer.ReadResource, req)
}

func (s labelled) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	return do(ctx, "PlanResourceChange", req.TypeName, s.ProviderServer.PlanResourceChange, req)
}

func (s labelled) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	return do(ctx, "ApplyResourceChange", req.TypeName, s.ProviderServer.ApplyResourceChange, req)
}

func (s labelled) ImportResourceState(ctx context.Context, req *tfprotov6.ImportResourceStateRequest) (*tfprotov6.ImportResourceStateResponse, error) {
	return do(ctx, "ImportResourceState", req.TypeName, s.ProviderServer.ImportResourceState, req)
}

func (s labelled) ValidateDataResourceConfig(ctx context.Context, req *tfprotov6.ValidateDataResourceConfigRequest) (*tfprotov6.ValidateDataResourceConfigResponse, error) {
	return do(ctx, "ValidateDataResourceConfig", req.TypeName, s.ProviderServer.ValidateDataResourceConfig, req)
}

func (s labelled) ReadDataSource(ctx context.Context, req *tfprotov6.ReadDataSourceRequest) (*tfprotov6.ReadDataSourceResponse, error) {
	return do(ctx, "ReadDataSource", req.TypeName, s.ProviderServer.ReadDataSource, req)
}
