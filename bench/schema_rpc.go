package main

// The provider's start alone: exec to GetProviderSchema over go-plugin, as terraform launches it.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// handshake is terraform's (its internal/plugin.Handshake): the magic cookie every provider checks.
var handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "TF_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
}

// rawConn is a go-plugin client plugin handing out the gRPC connection itself: the tfplugin6
// stubs are internal to terraform-plugin-go, and GetProviderSchema needs none (its request is
// empty, and the response is only counted).
type rawConn struct{ plugin.NetRPCUnsupportedPlugin }

func (rawConn) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("client only")
}

func (rawConn) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return conn, nil
}

// schemaRPCTime is the provider's start as terraform sees it, without terraform's own start: the
// median over runs of the time from exec'ing the binary, through go-plugin's handshake (protocol
// 6, gRPC, AutoMTLS, as terraform launches providers), to the GetProviderSchema response.
func schemaRPCTime(ctx context.Context, binary string, runs int) (time.Duration, error) {
	times := make([]time.Duration, 0, runs)
	for range runs {
		d, err := schemaRPCOnce(ctx, binary)
		if err != nil {
			return 0, fmt.Errorf("GetProviderSchema over go-plugin: %w", err)
		}
		times = append(times, d)
	}
	return median(times), nil
}

func schemaRPCOnce(ctx context.Context, binary string) (time.Duration, error) {
	start := time.Now()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{6: {"provider": rawConn{}}},
		Cmd:              exec.Command(binary),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return 0, err
	}
	raw, err := rpc.Dispense("provider")
	if err != nil {
		return 0, err
	}
	conn, ok := raw.(*grpc.ClientConn)
	if !ok {
		return 0, fmt.Errorf("dispensed %T", raw)
	}
	var resp emptypb.Empty // keeps the whole response as unknown fields
	if err := conn.Invoke(ctx, "/tfplugin6.Provider/GetProviderSchema", &emptypb.Empty{}, &resp); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if proto.Size(&resp) < 1024 {
		return 0, fmt.Errorf("GetProviderSchema answered only %d bytes", proto.Size(&resp))
	}
	return elapsed, nil
}
