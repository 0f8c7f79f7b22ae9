package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/acctest"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// inFlight counts concurrent ApplyResourceChange calls, to show how parallel an apply really was.
type inFlight struct {
	mu       sync.Mutex
	now, max int
}

func (c *inFlight) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now++
	c.max = max(c.max, c.now)
}

func (c *inFlight) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now--
}

func (c *inFlight) peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

type countingServer struct {
	tfprotov6.ProviderServer
	calls *inFlight
}

func (s countingServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	s.calls.enter()
	defer s.calls.leave()
	return s.ProviderServer.ApplyResourceChange(ctx, req)
}

const concurrentCount = 25

// TestAccConcurrency_sharedSecretAndManyModels creates, in one apply, a runtime, 25 model storage
// keys in ONE shared Secret and 25 InferenceServices using them, then checks through the API that
// no concurrent Secret update was lost, that a re-plan is empty, and that destroy removes every key.
//
// terraform-plugin-testing runs `terraform apply -parallelism=10` (terraform-exec's default) and
// terraform-exec strips TF_CLI_ARGS and TF_CLI_ARGS_* from the CLI's environment, so
// TF_CLI_ARGS_apply="-parallelism=20" cannot raise it; the test sets it anyway and records the
// concurrency actually reached.
func TestAccConcurrency_sharedSecretAndManyModels(t *testing.T) {
	requireSimulator(t)
	t.Setenv("TF_CLI_ARGS_apply", "-parallelism=20")
	ns := acctest.CreateNamespace(t, "conc")
	runtime := acctest.RandomName("rt")
	calls := &inFlight{}
	factory := acctest.ProtoV6ProviderFactories["asm"]
	factories := map[string]func() (tfprotov6.ProviderServer, error){
		"asm": func() (tfprotov6.ProviderServer, error) {
			s, err := factory()
			return countingServer{ProviderServer: s, calls: calls}, err
		},
	}

	config := acctest.ProviderConfig() + fmt.Sprintf(mlserverRuntime, runtime, ns, "seldonio/mlserver:1.3.2", "", "") + fmt.Sprintf(`
resource "asm_model_storage" "s" {
  count     = %[2]d
  name      = "key-${count.index}"
  namespace = %[1]q
  type      = "s3"
  s3 {
    access_key_id     = "AKIA${count.index}"
    secret_access_key = "secret-${count.index}"
    endpoint_url      = "http://minio.minio:9000"
    bucket            = "bucket-${count.index}"
    region            = "us-south"
  }
}

resource "asm_inference_service" "m" {
  count     = %[2]d
  name      = "model-${count.index}"
  namespace = %[1]q
  runtime   = asm_serving_runtime.test.name
  model_format {
    name    = "sklearn"
    version = "0"
  }
  storage {
    key  = asm_model_storage.s[count.index].name
    path = "sklearn/model-${count.index}.joblib"
  }
}
`, ns, concurrentCount)

	secrets := acctest.Dynamic(t).Resource(kube.Secret.GVR).Namespace(ns)
	// ourKeys returns the Secret's keys that this test's resources own, decoded.
	ourKeys := func() (map[string]map[string]any, error) {
		obj, err := secrets.Get(context.Background(), defaultStorageSecret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return map[string]map[string]any{}, nil
		}
		if err != nil {
			return nil, err
		}
		data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
		out := map[string]map[string]any{}
		for key, encoded := range data {
			raw, err := base64.StdEncoding.DecodeString(encoded)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", key, err)
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("key %s is not JSON: %w", key, err)
			}
			out[key] = doc
		}
		return out, nil
	}

	checkAll := func(*terraform.State) error {
		keys, err := ourKeys()
		if err != nil {
			return err
		}
		for i := range concurrentCount {
			key := fmt.Sprintf("key-%d", i)
			want := map[string]any{"type": "s3", "access_key_id": fmt.Sprintf("AKIA%d", i),
				"secret_access_key": fmt.Sprintf("secret-%d", i), "endpoint_url": "http://minio.minio:9000",
				"bucket": fmt.Sprintf("bucket-%d", i), "region": "us-south"}
			got, ok := keys[key]
			if !ok {
				return fmt.Errorf("key %s is missing from the shared Secret (lost update); keys: %d", key, len(keys))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("key %s = %v, want %v", key, got, want)
			}
		}
		if len(keys) != concurrentCount {
			return fmt.Errorf("the Secret has %d keys, want %d", len(keys), concurrentCount)
		}
		client := acctest.Kube(t)
		for i := range concurrentCount {
			ref := kube.Ref{Kind: kube.InferenceService, Namespace: ns, Name: fmt.Sprintf("model-%d", i)}
			if _, err := client.Get(context.Background(), ref); err != nil {
				return fmt.Errorf("%s: %w", ref, err)
			}
		}
		t.Logf("peak concurrent ApplyResourceChange calls: %d", calls.peak())
		if calls.peak() < 2 {
			return fmt.Errorf("the apply never ran two resource changes at once (peak %d): nothing concurrent was tested", calls.peak())
		}
		return nil
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			keys, err := ourKeys()
			if err != nil {
				return err
			}
			if len(keys) != 0 {
				return fmt.Errorf("destroy left %d keys in the Secret", len(keys))
			}
			client := acctest.Kube(t)
			for i := range concurrentCount {
				ref := kube.Ref{Kind: kube.InferenceService, Namespace: ns, Name: fmt.Sprintf("model-%d", i)}
				if _, err := client.Get(context.Background(), ref); err == nil {
					return fmt.Errorf("%s is left after destroy", ref)
				} else if !kube.IsNotFound(err) {
					return err
				}
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config,
				Check:  checkAll,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				Config:   config,
				PlanOnly: true,
			},
		},
	})
}
