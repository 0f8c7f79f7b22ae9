package acctest

import (
	"context"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/terraform-exec/tfexec"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
)

// NewTerraform serves the provider made by server until the test ends and returns the CLI the
// acceptance tests use (TF_ACC_TERRAFORM_PATH), initialised in a folder of its own and reattached to
// that provider, as terraform-plugin-testing does; for the tests that need command-line flags it
// does not pass (it always applies with -parallelism=10). config is written to the folder as
// main.tf, after a required_providers block. The CLI's output goes to the test's log.
//
// The reattach configuration is set in the test's environment (so the test cannot be parallel),
// not passed per command as tfexec.Reattach: terraform-exec's Validate and Output take no such
// option, and every command must reach the provider served here.
func NewTerraform(t *testing.T, server func() tfprotov6.ProviderServer, config string) *tfexec.Terraform {
	t.Helper()
	requireStack(t)
	path := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if path == "" {
		t.Fatal("TF_ACC_TERRAFORM_PATH must name the terraform or tofu binary (make testacc sets it)")
	}
	host := os.Getenv("TF_ACC_PROVIDER_HOST")
	if host == "" {
		host = "registry.terraform.io"
	}
	address := host + "/asm-modelmesh/asm"

	ctx, stop := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig)
	closed := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- tf6server.Serve(address, server,
			tf6server.WithDebug(ctx, reattach, closed),
			tf6server.WithGoPluginLogger(hclog.NewNullLogger()),
			tf6server.WithLoggingSink(t), // logs only when TF_LOG is set, as in terraform-plugin-testing
			tf6server.WithoutLogStderrOverride())
	}()
	var cfg *plugin.ReattachConfig
	select {
	case cfg = <-reattach:
	case err := <-served:
		stop()
		t.Fatalf("serving the provider: %v", err)
	case <-time.After(30 * time.Second):
		stop()
		t.Fatal("the provider server did not start")
	}
	t.Cleanup(func() {
		stop()
		<-closed
	})

	info, err := json.Marshal(tfexec.ReattachInfo{address: {
		Protocol: string(cfg.Protocol), ProtocolVersion: cfg.ProtocolVersion, Pid: cfg.Pid, Test: cfg.Test,
		Addr: tfexec.ReattachConfigAddr{Network: cfg.Addr.Network(), String: cfg.Addr.String()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_REATTACH_PROVIDERS", string(info))
	t.Setenv("CHECKPOINT_DISABLE", "1") // as terraform-plugin-testing sets it: no call home

	dir := t.TempDir()
	main := "terraform {\n  required_providers {\n    asm = { source = \"asm-modelmesh/asm\" }\n  }\n}\n" + config
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := tfexec.NewTerraform(dir, path)
	if err != nil {
		t.Fatal(err)
	}
	tf.SetStdout(t.Output())
	tf.SetLogger(log.New(t.Output(), "", 0)) // each command line
	if err := tf.Init(t.Context()); err != nil {
		t.Fatalf("init: %v", err)
	}
	return tf
}
