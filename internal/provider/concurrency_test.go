package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-exec/tfexec"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
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

const (
	concurrentCount = 25
	parallelism     = 20
)

// TestAccConcurrency_sharedSecretAndManyModels creates, in one `terraform apply -parallelism=20`, a
// runtime, 25 model storage keys in ONE shared Secret and 25 InferenceServices using them (51
// resources), then checks through the API that no concurrent Secret update was lost and that more
// than terraform's default 10 changes really ran at once, that a re-plan is empty, and that destroy
// removes every key and model. terraform-plugin-testing always applies with -parallelism=10, so the
// test drives the CLI itself.
func TestAccConcurrency_sharedSecretAndManyModels(t *testing.T) {
	requireLocalModelMesh(t)
	ns := acctest.CreateNamespace(t, "conc")
	calls := &inFlight{}
	factory := acctest.ProtoV6ProviderFactories["asm"]
	server, err := factory()
	if err != nil {
		t.Fatal(err)
	}

	runtime := acctest.Runtime{Name: acctest.RandomName("rt"), Namespace: ns}
	model := acctest.Model{Label: "m", Name: "model-${count.index}", Namespace: ns, Runtime: runtime.NameRef(),
		Format: acctest.Format{Name: "sklearn", Version: "0"}, StorageKey: "asm_model_storage.s[count.index].name",
		Path: "sklearn/model-${count.index}.joblib", Extra: fmt.Sprintf("  count     = %d", concurrentCount)}
	config := acctest.ProviderConfig() + runtime.HCL() + model.HCL() + fmt.Sprintf(`
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
`, ns, concurrentCount)
	tf := acctest.NewTerraform(t, func() tfprotov6.ProviderServer { return countingServer{ProviderServer: server, calls: calls} }, config)
	ctx := t.Context()

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
	client := acctest.Kube(t)
	modelRef := func(i int) kube.Ref {
		return kube.Ref{Kind: kube.InferenceService, Namespace: ns, Name: fmt.Sprintf("model-%d", i)}
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed { // leave nothing behind when the test stopped half-way
			_ = tf.Destroy(context.Background()) // the test's context has ended by now
		}
	})

	if err := tf.Apply(ctx, tfexec.Parallelism(parallelism)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	keys, err := ourKeys()
	if err != nil {
		t.Fatal(err)
	}
	for i := range concurrentCount {
		key := fmt.Sprintf("key-%d", i)
		want := map[string]any{"type": "s3", "access_key_id": fmt.Sprintf("AKIA%d", i),
			"secret_access_key": fmt.Sprintf("secret-%d", i), "endpoint_url": "http://minio.minio:9000",
			"bucket": fmt.Sprintf("bucket-%d", i), "region": "us-south"}
		got, ok := keys[key]
		if !ok {
			t.Errorf("key %s is missing from the shared Secret (lost update); keys: %d", key, len(keys))
		} else if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("key %s = %v, want %v", key, got, want)
		}
		if _, err := client.Get(context.Background(), modelRef(i)); err != nil {
			t.Error(err)
		}
	}
	if len(keys) != concurrentCount {
		t.Errorf("the Secret has %d keys, want %d", len(keys), concurrentCount)
	}
	t.Logf("peak concurrent ApplyResourceChange calls: %d", calls.peak())
	if calls.peak() <= 10 {
		t.Errorf("at most %d resource changes ran at once: -parallelism=%d did not take effect", calls.peak(), parallelism)
	}

	if changes, err := tf.Plan(ctx); err != nil || changes {
		t.Errorf("the plan after the apply: %v; changes: %v, want none (the plan is in the log above)", err, changes)
	}

	if err := tf.Destroy(ctx, tfexec.Parallelism(parallelism)); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	if keys, err := ourKeys(); err != nil || len(keys) != 0 {
		t.Errorf("destroy left %d keys in the Secret (err %v)", len(keys), err)
	}
	for i := range concurrentCount {
		if _, err := client.Get(context.Background(), modelRef(i)); !kube.IsNotFound(err) {
			t.Errorf("%s after destroy: %v", modelRef(i), err)
		}
	}
}
