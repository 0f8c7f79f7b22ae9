package main

import (
	"context"
	"flag"
	"log"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/provider"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/rpcprofile"
)

// version is set by goreleaser (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
	if !debug {
		quietUnreadLogs()
	}

	// providerserver.Serve with planfast's no-change plans, and each RPC's CPU profiled when TF_ASM_CPUPROFILE_DIR is set (the bench).
	err := rpcprofile.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address:         "registry.terraform.io/asm-modelmesh/asm",
		Debug:           debug,
		ProtocolVersion: 6,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// quietUnreadLogs turns the SDK's logs off when Terraform would drop them. terraform-plugin-go logs
// at TRACE unless told otherwise, and the framework logs every step of every RPC: each line was
// formatted as JSON, written to the plugin's stderr and parsed again by Terraform, which keeps
// provider logs only when TF_LOG or TF_LOG_PROVIDER is set. That was a third of a plan's CPU time.
// Any TF_LOG* variable leaves the levels alone, and so does -debug, whose logs go to the terminal.
func quietUnreadLogs() {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_LOG") {
			return
		}
	}
	// The SDK root, its protocol and framework subsystems, and this provider's own logger (named
	// after the provider's type in the address above).
	for _, name := range []string{"TF_LOG_SDK", "TF_LOG_SDK_PROTO", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_PROVIDER_ASM"} {
		if err := os.Setenv(name, "OFF"); err != nil {
			log.Fatal(err.Error())
		}
	}
}
