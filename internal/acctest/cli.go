package acctest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"
)

// TerraformCLI runs the CLI the acceptance tests use (TF_ACC_TERRAFORM_PATH) in a folder of its own
// against a provider served in this process, as terraform-plugin-testing does, for the tests that
// need command-line flags it does not pass (it always applies with -parallelism=10).
type TerraformCLI struct {
	path, dir string
	env       []string
}

// NewTerraformCLI serves the provider made by server until the test ends and returns a CLI
// reattached to it; config is written to the folder as main.tf, after a required_providers block.
func NewTerraformCLI(t *testing.T, server func() tfprotov6.ProviderServer, config string) *TerraformCLI {
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

	ctx, stop := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig)
	closed := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- tf6server.Serve(host+"/asm-modelmesh/asm", server,
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

	info, err := json.Marshal(map[string]any{host + "/asm-modelmesh/asm": map[string]any{
		"Protocol": string(cfg.Protocol), "ProtocolVersion": cfg.ProtocolVersion, "Pid": cfg.Pid, "Test": cfg.Test,
		"Addr": map[string]string{"Network": cfg.Addr.Network(), "String": cfg.Addr.String()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cli := &TerraformCLI{path: path, dir: t.TempDir(),
		env: append(os.Environ(), "TF_REATTACH_PROVIDERS="+string(info), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")}
	main := "terraform {\n  required_providers {\n    asm = { source = \"asm-modelmesh/asm\" }\n  }\n}\n" + config
	if err := os.WriteFile(filepath.Join(cli.dir, "main.tf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cli.Run("init", "-input=false", "-no-color"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return cli
}

// Run runs one command in the CLI's folder and returns its combined output; a non-zero exit is an
// *exec.ExitError.
func (c *TerraformCLI) Run(args ...string) (string, error) {
	cmd := exec.Command(c.path, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
