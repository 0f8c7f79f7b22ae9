// Command asm-sandbox runs the local stack (ASM API fake; a local cluster with the KServe CRDs, KWOK
// nodes, the real ModelMesh Serving controller and model-mesh's stand-in) on 127.0.0.1 until
// interrupted, for demos and manual testing.
//
//	asm-sandbox [-dir DIR]                          start, print the environment, wait for Ctrl-C
//	asm-sandbox get-isvc [-n NAMESPACE] NAME        print an InferenceService like kubectl get
//	asm-sandbox install-crds                        install the KServe CRDs on $KUBECONFIG's cluster
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/asmfake"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/localstack"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/mmeshfake"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "get-isvc":
		err = getInferenceService(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "install-crds":
		err = installCRDs()
	default:
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "asm-sandbox:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "folder for env.sh, the environment to source (default: a temporary folder)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "asm-sandbox-")
		if err != nil {
			return err
		}
		defer func() {
			if err := os.RemoveAll(tmp); err != nil {
				fmt.Fprintln(os.Stderr, "asm-sandbox:", err)
			}
		}()
		*dir = tmp
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, ">> starting the ASM API fake, the local cluster (control plane, KWOK, ModelMesh controller)...")
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	stack, err := localstack.Start(startCtx, localstack.Options{
		ASM:       asmfake.DefaultOptions(),
		ModelMesh: mmeshfake.Options{LoadDelay: 2 * time.Second},
		// What a real install has: models that name no runtime are auto-selected onto them.
		BuiltInRuntimes: true,
	})
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, ">> stopping the sandbox")
		_ = stack.Stop()
	}()
	fmt.Fprintln(os.Stderr, ">> starting the mesh's control plane (Istio CRDs) and its ingress gateway...")
	startCtx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	plane, err := stack.StartMeshControlPlane(startCtx)
	if err == nil {
		err = localstack.CreateIngressGateway(startCtx, stack.RESTConfig(), localstack.DefaultIngressGateway)
	}
	cancel()
	if err != nil {
		return err
	}
	// The cloud controller's part: the gateway's load balancer gets its address a little later.
	go func() {
		if err := localstack.SetGatewayAddress(ctx, stack.RESTConfig(), localstack.DefaultIngressGateway.Name,
			sandboxGatewayAddress, 3*time.Second); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "asm-sandbox: setting the ingress gateway's address:", err)
		}
	}()

	// make demo-real applies examples/quickstart-real as it is, with only these variables (and the
	// credentials and endpoints of env.sh) pointing it at the sandbox. Written first: scripts wait
	// for env.sh.
	varsFile := filepath.Join(*dir, "quickstart-real.tfvars")
	if err := os.WriteFile(varsFile, []byte(quickstartRealVars()), 0o600); err != nil {
		return err
	}
	envFile := filepath.Join(*dir, "env.sh")
	if err := os.WriteFile(envFile, []byte(exports(stack.Env())), 0o600); err != nil {
		return err
	}
	fmt.Printf(`asm-sandbox is up (Ctrl-C stops it and removes everything it started).

  ASM API fake    http://%s   meshes: %s (current), %s (%s, too old for ModelMesh)
                                attachable ACK cluster: %s
  Kubernetes      %s   namespace %s, KServe CRDs, ModelMesh controller,
                                built-in runtimes mlserver-1.x, ovms-1.x, torchserve-0.x, triton-2.x
  mesh control    %s   Istio CRDs (DescribeServiceMeshKubeconfig of %s); ingress gateway %q
  plane                         at %s, a documentation address: no proxy listens there

Point Terraform at it:

%s
or: source %s
(%s holds examples/quickstart-real's variables for this sandbox)
`, stack.ASM.Endpoint(), localstack.MeshID, localstack.OldMeshID, localstack.OldMeshVersion, localstack.ClusterID,
		stack.RESTConfig().Host, localstack.ServingNamespace, plane.RESTConfig().Host, localstack.MeshID,
		localstack.DefaultIngressGateway.Name, sandboxGatewayAddress, exports(stack.Env()), envFile, varsFile)
	<-ctx.Done()
	return nil
}

// quickstartRealVars are examples/quickstart-real's variables for the sandbox's mesh and cluster.
// The OSS key pair is a placeholder: model-mesh's stand-in loads models without reading storage.
func quickstartRealVars() string {
	return fmt.Sprintf(`region                = %q
mesh_id               = %q
cluster_id            = %q
namespace             = %q
oss_bucket            = "modelmesh-example-models"
oss_access_key_id     = "sandbox-oss-reader"
oss_access_key_secret = "sandbox-oss-secret"
`, localstack.Region, localstack.MeshID, localstack.ClusterID, localstack.ServingNamespace)
}

// sandboxGatewayAddress is the ingress gateway's load-balancer address in the sandbox: from
// TEST-NET-3 (RFC 5737), so that it cannot be mistaken for a reachable one.
const sandboxGatewayAddress = "203.0.113.10"

// exports renders the environment as shell export lines, in a stable order.
func exports(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%q\n", k, env[k])
	}
	return b.String()
}
