package mmeshfake

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

// setVModel calls SetVModel as the controller's PredictorReconciler.setVModel does for an
// InferenceService (owner "isvc", auto-deleted target, ModelKeyInfo JSON as key).
func setVModel(t *testing.T, c mmesh.ModelMeshClient, vmodel, modelID, typ, path string, loadNow bool) *mmesh.VModelStatusInfo {
	t.Helper()
	return setVModelWithKey(t, c, vmodel, modelID, typ, path, "localMinIO", loadNow)
}

// setVModelWithKey is setVModel for a model whose storage key is storageKey.
func setVModelWithKey(t *testing.T, c mmesh.ModelMeshClient, vmodel, modelID, typ, path, storageKey string, loadNow bool) *mmesh.VModelStatusInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.SetVModel(ctx, &mmesh.SetVModelRequest{
		VModelId: vmodel, Owner: "isvc", TargetModelId: modelID, AutoDeleteTargetModel: true, LoadNow: loadNow,
		ModelInfo: &mmesh.ModelInfo{Type: typ, Path: path, Key: fmt.Sprintf(`{"storage_key":%q,"model_type":{"name":"sklearn"}}`, storageKey)},
	})
	if err != nil {
		t.Fatalf("SetVModel %s: %v", vmodel, err)
	}
	return resp
}

func vmodelStatusOf(ctx context.Context, c mmesh.ModelMeshClient, vmodel string) (*mmesh.VModelStatusInfo, error) {
	return c.GetVModelStatus(ctx, &mmesh.GetVModelStatusRequest{VModelId: vmodel, Owner: "isvc"})
}

// waitActive waits until the vmodel's active model has the given state.
func waitActive(t *testing.T, c mmesh.ModelMeshClient, vmodel string, want mmesh.ModelStatusInfo_ModelStatus) *mmesh.VModelStatusInfo {
	t.Helper()
	var last *mmesh.VModelStatusInfo
	eventually(t, vmodel+" "+want.String(), func(ctx context.Context) (bool, error) {
		st, err := vmodelStatusOf(ctx, c, vmodel)
		if err != nil {
			return false, err
		}
		last = st
		return st.GetActiveModelStatus().GetStatus() == want, nil
	})
	return last
}

func locations(si *mmesh.ModelStatusInfo, state mmesh.ModelStatusInfo_ModelStatus) []string {
	var out []string
	for _, ci := range si.GetModelCopyInfos() {
		if ci.GetCopyStatus() == state {
			out = append(out, ci.GetLocation())
		}
	}
	slices.Sort(out)
	return out
}

func TestPlacementFollowsTypeConstraintsAndLabels(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	ox := s.runtimePod(t, ns, "ox", onnxLabels)
	s.startServer(t, Options{})
	c := client(t, sk)
	client(t, ox)

	cases := []struct {
		vmodel, typ string
		want        *corev1.Pod
	}{
		{"by-format", "mt:onnx", ox},
		{"by-format-and-protocol", "mt:sklearn|pv:grpc-v2", sk},
		// A model with an explicit runtime is placed by rt:<name> only (GetPredictorTypeLabel).
		{"by-runtime", "rt:ox", ox},
	}
	for _, tc := range cases {
		resp := setVModel(t, c, tc.vmodel, tc.vmodel+"__isvc-0123456789", tc.typ, "models/"+tc.vmodel, true)
		if got := resp.GetActiveModelStatus().GetStatus(); got != mmesh.ModelStatusInfo_LOADING {
			t.Errorf("%s: SetVModel with loadNow answered %v, want LOADING", tc.vmodel, got)
		}
		want := []string{instanceID(tc.want.Name)}
		if got := locations(resp.GetActiveModelStatus(), mmesh.ModelStatusInfo_UNKNOWN); !slices.Equal(got, want) {
			t.Errorf("%s (type %s): copies at %v, want %v (pod %s)", tc.vmodel, tc.typ, got, want, tc.want.Name)
		}
	}
	for _, tc := range cases {
		st := waitActive(t, c, tc.vmodel, mmesh.ModelStatusInfo_LOADED)
		if st.GetStatus() != mmesh.VModelStatusInfo_DEFINED || st.GetOwner() != "isvc" {
			t.Errorf("%s: vmodel status %v owner %q, want DEFINED isvc", tc.vmodel, st.GetStatus(), st.GetOwner())
		}
	}
}

func TestNoRunningInstanceAnswersModelMeshMessage(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	ox := s.runtimePod(t, ns, "ox", onnxLabels)
	s.startServer(t, Options{})
	c := client(t, ox)

	cases := []struct{ typ, want string }{
		// A runtime supports the type, but none of its pods runs: the controller shows RuntimeUnhealthy.
		{"mt:sklearn", "There are no running instances that meet the label requirements of type mt:sklearn: [mt:sklearn]"},
		{"mt:sklearn|pv:grpc-v2", "There are no running instances that meet the label requirements of type mt:sklearn|pv:grpc-v2: [mt:sklearn, pv:grpc-v2]"},
		// No runtime supports the type: the "_default" constraint applies (NoSupportingRuntime).
		{"mt:xgboost", "There are no running instances that meet the label requirements of type mt:xgboost: [_no_runtime]"},
		// An unknown runtime name (RuntimeNotRecognized).
		{"rt:nosuch", "There are no running instances that meet the label requirements of type rt:nosuch: [_no_runtime]"},
	}
	for i, tc := range cases {
		vm := "nofit-" + string(rune('a'+i))
		resp := setVModel(t, c, vm, vm+"__isvc-0123456789", tc.typ, "models/x", true)
		active := resp.GetActiveModelStatus()
		if active.GetStatus() != mmesh.ModelStatusInfo_LOADING_FAILED || len(active.GetErrors()) != 1 || active.GetErrors()[0] != tc.want {
			t.Errorf("type %s: got %v %q, want LOADING_FAILED %q", tc.typ, active.GetStatus(), active.GetErrors(), tc.want)
		}
		if len(active.GetModelCopyInfos()) != 0 {
			t.Errorf("type %s: copies %v, want none", tc.typ, active.GetModelCopyInfos())
		}
		// Nothing was recorded: asked again without a load, model-mesh reports the model not loaded.
		st, err := vmodelStatusOf(context.Background(), c, vm)
		if err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_NOT_LOADED {
			t.Errorf("type %s: GetVModelStatus = %v, %v; want NOT_LOADED", tc.typ, st, err)
		}
	}

	// Once a pod with the labels is ready, the controller's retry (loadNow) places the model.
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	client(t, sk)
	resp := setVModel(t, c, "nofit-a", "nofit-a__isvc-0123456789", "mt:sklearn", "models/x", true)
	if got := locations(resp.GetActiveModelStatus(), mmesh.ModelStatusInfo_UNKNOWN); !slices.Equal(got, []string{instanceID(sk.Name)}) {
		t.Errorf("after the sklearn pod turned ready: %v copies at %v, want at %s", resp.GetActiveModelStatus().GetStatus(), got, sk.Name)
	}
	waitActive(t, c, "nofit-a", mmesh.ModelStatusInfo_LOADED)
}

func TestLoadFailureIsRetriedElsewhereThenReported(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	a := s.runtimePod(t, ns, "sk", sklearnLabels)
	b := s.runtimePod(t, ns, "sk", sklearnLabels)
	s.startServer(t, Options{})
	c := client(t, a)
	client(t, b)

	setVModel(t, c, "broken", "broken__isvc-0123456789", "mt:sklearn", "s3/fail/mnist.joblib", true)
	// The load fails in one pod, is retried in the other (CacheEntry.failed), fails there too.
	var st *mmesh.VModelStatusInfo
	eventually(t, "failures in both pods", func(ctx context.Context) (bool, error) {
		var err error
		st, err = vmodelStatusOf(ctx, c, "broken")
		return err == nil && len(locations(st.GetActiveModelStatus(), mmesh.ModelStatusInfo_LOADING_FAILED)) == 2, err
	})
	active := st.GetActiveModelStatus()
	wantMsg := "Failed to load Model due to adapter error: Error calling stat on /models/broken__isvc-0123456789/mnist.joblib: " +
		"stat /models/broken__isvc-0123456789/mnist.joblib: no such file or directory"
	if active.GetStatus() != mmesh.ModelStatusInfo_LOADING_FAILED || len(active.GetErrors()) != 2 ||
		active.GetErrors()[0] != wantMsg || len(active.GetModelCopyInfos()) != 2 {
		t.Fatalf("after two failed loads: %v", active)
	}
	if got, want := locations(active, mmesh.ModelStatusInfo_LOADING_FAILED), sortedIDs(a, b); !slices.Equal(got, want) {
		t.Errorf("failed copies at %v, want %v", got, want)
	}
	// The controller asks again (loadNow while FailedToLoad): no instance is left to try.
	resp := setVModel(t, c, "broken", "broken__isvc-0123456789", "mt:sklearn", "s3/fail/mnist.joblib", true)
	if got := resp.GetActiveModelStatus(); got.GetStatus() != mmesh.ModelStatusInfo_LOADING_FAILED || len(got.GetModelCopyInfos()) != 2 {
		t.Errorf("retry after both pods failed: %v, want LOADING_FAILED with the same two failures", got)
	}
}

// TestFailedLoadIsRetriedOnAnotherInstance: model-mesh writes a failed load to the registry before
// it retries elsewhere (CacheEntry.failed), so the failure is visible on its own; the retry then
// loads the model in the other pod and the failure stays listed.
func TestFailedLoadIsRetriedOnAnotherInstance(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	a := s.runtimePod(t, ns, "sk", sklearnLabels)
	b := s.runtimePod(t, ns, "sk", sklearnLabels)
	s.startServer(t, Options{RetryDelay: 2 * time.Second})
	c := client(t, a)
	client(t, b)

	setVModel(t, c, "flaky", "flaky__isvc-0123456789", "mt:sklearn", "s3/fail-once/mnist.joblib", true)
	st := waitActive(t, c, "flaky", mmesh.ModelStatusInfo_LOADING_FAILED)
	failedIn := locations(st.GetActiveModelStatus(), mmesh.ModelStatusInfo_LOADING_FAILED)
	if len(failedIn) != 1 || len(st.GetActiveModelStatus().GetModelCopyInfos()) != 1 {
		t.Fatalf("before the retry: %v, want one failure and no copy", st.GetActiveModelStatus())
	}
	st = waitActive(t, c, "flaky", mmesh.ModelStatusInfo_LOADED)
	active := st.GetActiveModelStatus()
	wantMsg := "Failed to load Model due to adapter error: Error calling stat on /models/flaky__isvc-0123456789/mnist.joblib: " +
		"stat /models/flaky__isvc-0123456789/mnist.joblib: no such file or directory"
	if got := locations(active, mmesh.ModelStatusInfo_LOADING_FAILED); !slices.Equal(got, failedIn) ||
		len(active.GetErrors()) != 1 || active.GetErrors()[0] != wantMsg {
		t.Errorf("after the retry: %v, want the failure in %v kept", active, failedIn)
	}
	if got, want := locations(active, mmesh.ModelStatusInfo_UNKNOWN), sortedIDs(a, b); len(got) != 1 || !slices.Contains(want, got[0]) || got[0] == failedIn[0] {
		t.Errorf("copies at %v, want one in the pod that did not fail (of %v)", got, want)
	}
}

func sortedIDs(pods ...*corev1.Pod) []string {
	var ids []string
	for _, p := range pods {
		ids = append(ids, instanceID(p.Name))
	}
	slices.Sort(ids)
	return ids
}

func TestSlowLoadStaysLoading(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	// Two loading threads: the quick load need not queue behind the slow one.
	sk := s.runtimePod(t, ns, "sk", sklearnLabels, twoLoadingThreads)
	s.startServer(t, Options{SlowLoadDelay: time.Hour})
	c := client(t, sk)

	setVModel(t, c, "slow", "slow__isvc-0123456789", "mt:sklearn", "bucket/slow/m", true)
	setVModel(t, c, "quick", "quick__isvc-0123456789", "mt:sklearn", "bucket/m", true)
	waitActive(t, c, "quick", mmesh.ModelStatusInfo_LOADED)
	st, err := vmodelStatusOf(context.Background(), c, "slow")
	if err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Errorf("slow model after the quick one loaded: %v, %v; want LOADING", st, err)
	}
}

// twoLoadingThreads is the adapter env of a runtime annotated maxLoadingConcurrency: "2".
var twoLoadingThreads = corev1.EnvVar{Name: "LOADING_CONCURRENCY", Value: "2"}

// TestLoadsQueuePerInstance: an instance runs as many loads at once as its runtime's loading
// concurrency (default 1) and queues the rest, which report LOADING meanwhile; a queued load's time
// starts when it leaves the queue; deleting a model that is loading frees its thread at once.
func TestLoadsQueuePerInstance(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	one := s.runtimePod(t, ns, "sk", sklearnLabels)
	two := s.runtimePod(t, ns, "ox", onnxLabels, twoLoadingThreads)
	s.startServer(t, Options{SlowLoadDelay: time.Hour})
	c := client(t, one)
	client(t, two)

	// One thread: the second load waits for the first (2 s), then takes its own 2 s.
	start := time.Now()
	setVModel(t, c, "first", "first__isvc-0123456789", "mt:sklearn", "bucket/load-2s/a", true)
	setVModel(t, c, "second", "second__isvc-0123456789", "mt:sklearn", "bucket/load-2s/b", true)
	waitActive(t, c, "first", mmesh.ModelStatusInfo_LOADED)
	if st, err := vmodelStatusOf(context.Background(), c, "second"); err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Errorf("second model when the first has loaded: %v, %v; want LOADING", st, err)
	}
	waitActive(t, c, "second", mmesh.ModelStatusInfo_LOADED)
	if elapsed := time.Since(start); elapsed < 4*time.Second {
		t.Errorf("both loads done after %s on one loading thread, want at least 4s", elapsed)
	}

	// Two threads: two 2 s loads run side by side.
	start = time.Now()
	setVModel(t, c, "third", "third__isvc-0123456789", "mt:onnx", "bucket/load-2s/c", true)
	setVModel(t, c, "fourth", "fourth__isvc-0123456789", "mt:onnx", "bucket/load-2s/d", true)
	waitActive(t, c, "third", mmesh.ModelStatusInfo_LOADED)
	waitActive(t, c, "fourth", mmesh.ModelStatusInfo_LOADED)
	if elapsed := time.Since(start); elapsed > 3500*time.Millisecond {
		t.Errorf("two loads on two loading threads took %s, want about 2s", elapsed)
	}

	// A load that would take an hour holds the only thread; deleting its model frees it.
	setVModel(t, c, "stuck", "stuck__isvc-0123456789", "mt:sklearn", "bucket/slow/e", true)
	setVModel(t, c, "queued", "queued__isvc-0123456789", "mt:sklearn", "bucket/f", true)
	time.Sleep(time.Second) // longer than the queued model's own load time
	if st, err := vmodelStatusOf(context.Background(), c, "queued"); err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Errorf("model queued behind an hour-long load: %v, %v; want LOADING", st, err)
	}
	if _, err := c.DeleteVModel(context.Background(), &mmesh.DeleteVModelRequest{VModelId: "stuck", Owner: "isvc"}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "queued", mmesh.ModelStatusInfo_LOADED)
}

// TestLoadTimeInPath: a path segment load-<duration>/ sets how long its load takes.
func TestLoadTimeInPath(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	s.startServer(t, Options{})
	c := client(t, sk)

	start := time.Now()
	setVModel(t, c, "timed", "timed__isvc-0123456789", "mt:sklearn", "bucket/load-2s/m", true)
	if st, err := vmodelStatusOf(context.Background(), c, "timed"); err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Fatalf("right after the load started: %v, %v; want LOADING", st, err)
	}
	waitActive(t, c, "timed", mmesh.ModelStatusInfo_LOADED)
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("LOADED after %s, want 2s", elapsed)
	}
}

// TestLoadTimesOutAtTheAdaptersTimeout: a load longer than the loading timeout the runtime's
// adapter reports (LOADTIME_TIMEOUT) fails at the timeout, is retried in the other pod, and times
// out there too, with model-mesh's TimeoutException message.
func TestLoadTimesOutAtTheAdaptersTimeout(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	timeout := corev1.EnvVar{Name: "LOADTIME_TIMEOUT", Value: "1000"}
	a := s.runtimePod(t, ns, "sk", sklearnLabels, timeout)
	b := s.runtimePod(t, ns, "sk", sklearnLabels, timeout)
	s.startServer(t, Options{})
	c := client(t, a)
	client(t, b)

	start := time.Now()
	setVModel(t, c, "big", "big__isvc-0123456789", "mt:sklearn", "bucket/load-1m/m", true)
	var st *mmesh.VModelStatusInfo
	eventually(t, "timeouts in both pods", func(ctx context.Context) (bool, error) {
		var err error
		st, err = vmodelStatusOf(ctx, c, "big")
		return err == nil && len(locations(st.GetActiveModelStatus(), mmesh.ModelStatusInfo_LOADING_FAILED)) == 2, err
	})
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("two timeouts of 1s after %s", elapsed)
	}
	active := st.GetActiveModelStatus()
	want := "java.util.concurrent.TimeoutException: Load of model big__isvc-0123456789 timed out after 1sec"
	if active.GetStatus() != mmesh.ModelStatusInfo_LOADING_FAILED || len(active.GetErrors()) != 2 || active.GetErrors()[0] != want {
		t.Errorf("after both loads timed out: %v, want LOADING_FAILED with %q", active, want)
	}
}

// TestStorageKeyMissingFailsTheLoad: the puller fails a load whose storage key the mounted
// storage-config Secret lacks, in each pod; the key added, a new model with it loads.
func TestStorageKeyMissingFailsTheLoad(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	a := s.runtimePod(t, ns, "sk", sklearnLabels)
	s.startServer(t, Options{})
	c := client(t, a)

	setVModelWithKey(t, c, "nokey", "nokey__isvc-0123456789", "mt:sklearn", "bucket/m", "otherMinIO", true)
	st := waitActive(t, c, "nokey", mmesh.ModelStatusInfo_LOADING_FAILED)
	want := "Did not find storage config for key otherMinIO: Storage secretKey not found: otherMinIO"
	if errs := st.GetActiveModelStatus().GetErrors(); len(errs) != 1 || errs[0] != want {
		t.Errorf("errors %q, want [%q]", errs, want)
	}
	patch := `{"stringData":{"otherMinIO":"{\"type\":\"s3\"}"}}`
	if _, err := s.kube.CoreV1().Secrets(ns).Patch(context.Background(), storageVolume, k8stypes.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the patched Secret in the informer", func(context.Context) (bool, error) {
		setVModelWithKey(t, c, "nokey", "nokey__isvc-abcdef0123", "mt:sklearn", "bucket/m", "otherMinIO", true)
		st, err := vmodelStatusOf(context.Background(), c, "nokey")
		return err == nil && st.GetActiveModelStatus().GetStatus() == mmesh.ModelStatusInfo_LOADED, err
	})
}

// TestRecordsAsTheControllerReadsThem checks the etcd layout that modelmesh-serving's
// ModelMeshEventStream.refreshWatches watches: keys under <root_prefix>/mm/<service>/vmodels/ with
// the owner in field "o", and model keys "<vmodel>__<source>-<10 hex>" under .../registry/, from
// which it derives the InferenceService to reconcile.
func TestRecordsAsTheControllerReadsThem(t *testing.T) {
	s := needStack(t)
	ns, root := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	s.startServer(t, Options{})
	c := client(t, sk)

	servicePrefix := root + "/mm/" + serviceName
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := s.etcd.Watch(ctx, servicePrefix+"/registry/", clientv3.WithPrefix())

	setVModel(t, c, "mnist", "mnist__isvc-1a2b3c4d5e", "mt:sklearn", "sklearn/mnist-svm.joblib", true)

	select {
	case wr := <-watch:
		if len(wr.Events) == 0 || string(wr.Events[0].Kv.Key) != servicePrefix+"/registry/mnist__isvc-1a2b3c4d5e" {
			t.Errorf("first registry event %v", wr.Events)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no registry event for the controller's watch")
	}

	resp, err := s.etcd.Get(ctx, servicePrefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, kv := range resp.Kvs {
		var v map[string]any
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			t.Fatalf("%s: %v", kv.Key, err)
		}
		got[strings.TrimPrefix(string(kv.Key), servicePrefix+"/")] = v
	}
	vm := got["vmodels/mnist"]
	if vm["o"] != "isvc" || vm["amid"] != "mnist__isvc-1a2b3c4d5e" || vm["tmid"] != "mnist__isvc-1a2b3c4d5e" || len(vm) != 3 {
		t.Errorf("vmodel record %v", vm)
	}
	for key := range got {
		if id, ok := strings.CutPrefix(key, "registry/"); ok {
			// The controller's reading of a model key: predictor name before the last "__", source
			// id up to the 11-character "-<hash>" suffix.
			i := strings.LastIndex(id, "__")
			if i < 0 || len(id)-11 <= i+2 || id[len(id)-11] != '-' || id[:i] != "mnist" || id[i+2:len(id)-11] != "isvc" {
				t.Errorf("registry key %q does not name predictor mnist from source isvc", id)
			}
		}
	}
	mr := got["registry/mnist__isvc-1a2b3c4d5e"]
	insts, _ := mr["instanceIds"].(map[string]any)
	if mr["type"] != "mt:sklearn" || mr["mPath"] != "sklearn/mnist-svm.joblib" || mr["autoDel"] != true ||
		mr["refs"] != float64(1) || len(insts) != 1 || insts[instanceID(sk.Name)] == nil ||
		!strings.Contains(fmt.Sprint(mr["encKey"]), "localMinIO") {
		t.Errorf("model record %v", mr)
	}
}

func TestUnreadyPodLeavesItsModelsStandby(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	ox := s.runtimePod(t, ns, "ox", onnxLabels)
	s.startServer(t, Options{})
	c := client(t, ox)
	client(t, sk)
	setVModel(t, c, "m", "m__isvc-0123456789", "mt:sklearn", "bucket/m", true)
	waitActive(t, c, "m", mmesh.ModelStatusInfo_LOADED)

	// The runtime container crashes: its copy cannot be reached. model-mesh reports the model
	// NOT_LOADED (Standby) and keeps the registration until it prunes it.
	sk = s.setReady(t, sk, false, sk.Status.ContainerStatuses[0].State.Running.StartedAt.Time)
	st := waitActive(t, c, "m", mmesh.ModelStatusInfo_NOT_LOADED)
	if len(st.GetActiveModelStatus().GetModelCopyInfos()) != 0 {
		t.Errorf("standby model lists copies %v", st.GetActiveModelStatus().GetModelCopyInfos())
	}

	// It restarts: the new container holds nothing, its stale registration goes, the model stays
	// Standby until something asks for a load.
	sk = s.restart(t, sk)
	client(t, sk)
	eventually(t, "stale registration pruned", func(ctx context.Context) (bool, error) {
		resp, err := c.GetModelStatus(ctx, &mmesh.GetStatusRequest{ModelId: "m__isvc-0123456789"})
		return err == nil && resp.GetStatus() == mmesh.ModelStatusInfo_NOT_LOADED && len(resp.GetModelCopyInfos()) == 0, err
	})
	resp := setVModel(t, c, "m", "m__isvc-0123456789", "mt:sklearn", "bucket/m", true)
	if resp.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Errorf("load after restart: %v", resp.GetActiveModelStatus())
	}
	waitActive(t, c, "m", mmesh.ModelStatusInfo_LOADED)
}

func TestReaperPrunesGoneInstancesAndReloadsStandbyModels(t *testing.T) {
	s := needStack(t)
	gone := instanceGoneAfter
	instanceGoneAfter = 300
	t.Cleanup(func() { instanceGoneAfter = gone })
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	ox := s.runtimePod(t, ns, "ox", onnxLabels)
	s.startServer(t, Options{ReaperFirst: 50 * time.Millisecond, ReaperPeriod: 100 * time.Millisecond})
	c := client(t, ox)
	client(t, sk)
	setVModel(t, c, "m", "m__isvc-0123456789", "mt:sklearn", "bucket/m", true)
	waitActive(t, c, "m", mmesh.ModelStatusInfo_LOADED)

	// The only sklearn pod goes down and stays down: its registration is pruned once the instance
	// has been missing long enough, and there is nowhere to load the model.
	sk = s.setReady(t, sk, false, sk.Status.ContainerStatuses[0].State.Running.StartedAt.Time)
	eventually(t, "registration of the missing instance pruned", func(ctx context.Context) (bool, error) {
		st, err := c.GetModelStatus(ctx, &mmesh.GetStatusRequest{ModelId: "m__isvc-0123456789"})
		return err == nil && st.GetStatus() == mmesh.ModelStatusInfo_NOT_LOADED && len(st.GetModelCopyInfos()) == 0, err
	})
	// It comes back: the reaper loads the Standby model without being asked.
	sk = s.restart(t, sk)
	st := waitActive(t, c, "m", mmesh.ModelStatusInfo_LOADED)
	if got := locations(st.GetActiveModelStatus(), mmesh.ModelStatusInfo_UNKNOWN); !slices.Equal(got, []string{instanceID(sk.Name)}) {
		t.Errorf("reloaded copy at %v, want %s", got, sk.Name)
	}
}

func TestRestartKeepsState(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels, twoLoadingThreads)
	first := s.startServer(t, Options{SlowLoadDelay: time.Hour})
	c := client(t, sk)
	setVModel(t, c, "kept", "kept__isvc-0123456789", "mt:sklearn", "bucket/m", true)
	setVModel(t, c, "slow", "slow__isvc-0123456789", "mt:sklearn", "bucket/slow/m", true)
	waitActive(t, c, "kept", mmesh.ModelStatusInfo_LOADED)

	first.Stop()
	s.startServer(t, Options{SlowLoadDelay: time.Hour})
	c = client(t, sk)
	st, err := vmodelStatusOf(context.Background(), c, "kept")
	if err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADED ||
		!slices.Equal(locations(st.GetActiveModelStatus(), mmesh.ModelStatusInfo_UNKNOWN), []string{instanceID(sk.Name)}) {
		t.Errorf("loaded model after restart: %v, %v", st, err)
	}
	st, err = vmodelStatusOf(context.Background(), c, "slow")
	if err != nil || st.GetActiveModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Errorf("loading model after restart: %v, %v", st, err)
	}
}

func TestNewTargetReplacesActiveOnceLoaded(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	s.startServer(t, Options{})
	c := client(t, sk)
	setVModel(t, c, "v", "v__isvc-0000000001", "mt:sklearn", "bucket/v1", true)
	waitActive(t, c, "v", mmesh.ModelStatusInfo_LOADED)

	// A spec change: the controller sets a new target while the active model is Loaded.
	resp := setVModel(t, c, "v", "v__isvc-0000000002", "mt:sklearn", "bucket/v2", false)
	if resp.GetStatus() != mmesh.VModelStatusInfo_TRANSITIONING || resp.GetActiveModelId() != "v__isvc-0000000001" ||
		resp.GetTargetModelStatus().GetStatus() != mmesh.ModelStatusInfo_LOADING {
		t.Errorf("new target: %v", resp)
	}
	eventually(t, "transition to v2", func(ctx context.Context) (bool, error) {
		st, err := vmodelStatusOf(ctx, c, "v")
		return err == nil && st.GetStatus() == mmesh.VModelStatusInfo_DEFINED && st.GetActiveModelId() == "v__isvc-0000000002" &&
			st.GetActiveModelStatus().GetStatus() == mmesh.ModelStatusInfo_LOADED, err
	})
	old, err := c.GetModelStatus(context.Background(), &mmesh.GetStatusRequest{ModelId: "v__isvc-0000000001"})
	if err != nil || old.GetStatus() != mmesh.ModelStatusInfo_NOT_FOUND {
		t.Errorf("replaced model: %v, %v; want auto-deleted (NOT_FOUND)", old, err)
	}

	// A target that fails to load leaves the active model serving.
	setVModel(t, c, "v", "v__isvc-0000000003", "mt:sklearn", "bucket/fail/v3", false)
	eventually(t, "failed transition", func(ctx context.Context) (bool, error) {
		st, err := vmodelStatusOf(ctx, c, "v")
		return err == nil && st.GetStatus() == mmesh.VModelStatusInfo_TRANSITION_FAILED &&
			st.GetActiveModelStatus().GetStatus() == mmesh.ModelStatusInfo_LOADED &&
			st.GetTargetModelStatus().GetStatus() == mmesh.ModelStatusInfo_LOADING_FAILED, err
	})

	if _, err := c.DeleteVModel(context.Background(), &mmesh.DeleteVModelRequest{VModelId: "v", Owner: "isvc"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"v__isvc-0000000002", "v__isvc-0000000003"} {
		st, err := c.GetModelStatus(context.Background(), &mmesh.GetStatusRequest{ModelId: id})
		if err != nil || st.GetStatus() != mmesh.ModelStatusInfo_NOT_FOUND {
			t.Errorf("%s after DeleteVModel: %v, %v", id, st, err)
		}
	}
}

func TestDeletedPodHandsItsModelsOver(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	a := s.runtimePod(t, ns, "sk", sklearnLabels)
	b := s.runtimePod(t, ns, "sk", sklearnLabels)
	ox := s.runtimePod(t, ns, "ox", onnxLabels)
	s.startServer(t, Options{})
	cb := client(t, b)
	client(t, a)
	resp := setVModel(t, cb, "m", "m__isvc-0123456789", "mt:sklearn", "bucket/m", true)
	holder := locations(resp.GetActiveModelStatus(), mmesh.ModelStatusInfo_UNKNOWN)
	waitActive(t, cb, "m", mmesh.ModelStatusInfo_LOADED)
	gone, stays := a, b
	if slices.Equal(holder, []string{instanceID(b.Name)}) {
		gone, stays = b, a
	}
	c := client(t, ox)
	if err := s.kube.CoreV1().Pods(ns).Delete(context.Background(), gone.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "copy moved to "+stays.Name, func(ctx context.Context) (bool, error) {
		st, err := vmodelStatusOf(ctx, c, "m")
		return err == nil && st.GetActiveModelStatus().GetStatus() == mmesh.ModelStatusInfo_LOADED &&
			slices.Equal(locations(st.GetActiveModelStatus(), mmesh.ModelStatusInfo_UNKNOWN), []string{instanceID(stays.Name)}), err
	})

	// The last pod that can hold the model goes: nowhere to hand it to, its registration is
	// removed and the model is Standby (NOT_LOADED).
	if err := s.kube.CoreV1().Pods(ns).Delete(context.Background(), stays.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "model standby", func(ctx context.Context) (bool, error) {
		st, err := vmodelStatusOf(ctx, c, "m")
		return err == nil && st.GetActiveModelStatus().GetStatus() == mmesh.ModelStatusInfo_NOT_LOADED, err
	})
	mr, err := c.GetModelStatus(context.Background(), &mmesh.GetStatusRequest{ModelId: "m__isvc-0123456789"})
	if err != nil || len(mr.GetModelCopyInfos()) != 0 {
		t.Errorf("after both pods were deleted: %v, %v; want no copies", mr, err)
	}
}

func TestModelMeshPodReadsTheControllersDeployment(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "modelmesh-serving-mlserver-1.x-5d8f7c9b4-x2k9q"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: mmContainer, Env: []corev1.EnvVar{
				{Name: "MM_SERVICE_NAME", Value: "modelmesh-serving"}, {Name: "MM_SVC_GRPC_PORT", Value: "8033"},
				{Name: "MM_LABELS", Value: "mt:sklearn,rt:mlserver-1.x"}, {Name: "MM_KVSTORE_PREFIX", Value: "mm"},
				{Name: "MM_DEFAULT_VMODEL_OWNER", Value: "ksp"}}}},
			Volumes: []corev1.Volume{
				{Name: etcdVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "model-serving-etcd"}}},
				{Name: typeConstraintsVol, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "tc-config"}}}},
			},
		},
	}
	spec, ok := modelMeshPod(pod)
	want := podSpec{service: "modelmesh-serving", port: "8033", labels: "mt:sklearn,rt:mlserver-1.x", kvPrefix: "mm",
		owner: "ksp", etcdSecret: "model-serving-etcd", tcConfigMap: "tc-config"}
	if !ok || spec != want {
		t.Errorf("modelMeshPod = %+v, %v; want %+v", spec, ok, want)
	}
	if got, want := instanceID(pod.Name), "f7c9b4-x2k9q"; got != want {
		t.Errorf("instanceID = %q, want %q (last 12 characters, start.sh)", got, want)
	}
	pod.Spec.Containers[0].Name = "other"
	if _, ok := modelMeshPod(pod); ok {
		t.Error("a pod without an mm container was taken for model-mesh")
	}
}

func TestStatusInfoListsCopiesAndFailuresNewestFirst(t *testing.T) {
	mr := &modelRecord{
		InstanceIDs: map[string]int64{"inst-a": 100},
		FailedIn:    map[string]int64{"inst-b": 200, "inst-c": 300},
		Fails:       map[string]failureInfo{"inst-b": {Msg: "older"}, "inst-c": {Msg: "newer"}},
	}
	si := makeStatusInfo(mmesh.ModelStatusInfo_LOADING_FAILED, nil, mr, 400)
	if !slices.Equal(si.GetErrors(), []string{"newer", "older"}) {
		t.Errorf("errors %q, want most recent first", si.GetErrors())
	}
	var got []string
	for _, ci := range si.GetModelCopyInfos() {
		got = append(got, ci.GetLocation()+":"+ci.GetCopyStatus().String())
	}
	want := []string{"inst-c:LOADING_FAILED", "inst-b:LOADING_FAILED", "inst-a:UNKNOWN"}
	if !slices.Equal(got, want) {
		t.Errorf("copies %v, want %v", got, want)
	}
	// A load error of an instance not yet in the record counts as a failure there.
	si = makeStatusInfo(mmesh.ModelStatusInfo_LOADING_FAILED, &loadError{msg: "boom", instance: "inst-a"}, &modelRecord{InstanceIDs: map[string]int64{"inst-a": 1}}, 5)
	if !slices.Equal(si.GetErrors(), []string{"boom"}) || len(si.GetModelCopyInfos()) != 1 ||
		si.GetModelCopyInfos()[0].GetCopyStatus() != mmesh.ModelStatusInfo_LOADING_FAILED {
		t.Errorf("load error in an instance: %v", si)
	}
}

func TestRecordJSONOmitsDefaults(t *testing.T) {
	got := string(marshalRecord(&vmodelRecord{Owner: "isvc", ActiveModel: "a", TargetModel: "a"}))
	if got != `{"o":"isvc","amid":"a","tmid":"a"}` {
		t.Errorf("vmodel record %s", got)
	}
	got = string(marshalRecord(&modelRecord{Type: "mt:sklearn", MPath: "p", Refs: 1, AutoDel: true}))
	if got != `{"type":"mt:sklearn","mPath":"p","refs":1,"autoDel":true}` {
		t.Errorf("model record %s", got)
	}
}

// TestTypeConstraintsArriveLate: a runtime added while another runtime's Pods run. The controller
// adds its types to the ConfigMap at once, but model-mesh reads the kubelet's projection of it,
// which follows TypeConstraintsRefresh later: until then a model of the new type gets the no-home
// message of an unknown type ("_default": [_no_runtime], the controller's NoSupportingRuntime),
// even from the new runtime's Pod. The reaper's next run loads it once the constraints arrived.
func TestTypeConstraintsArriveLate(t *testing.T) {
	s := needStack(t)
	ns, _ := s.namespace(t)
	sk := s.runtimePod(t, ns, "sk", sklearnLabels)
	const refresh = 5 * time.Second
	s.startServer(t, Options{TypeConstraintsRefresh: refresh, ReaperFirst: 200 * time.Millisecond, ReaperPeriod: 500 * time.Millisecond})
	c := client(t, sk) // the instance serves, with the constraints of before the change

	withXGBoost := strings.Replace(sklearnAndOnnx, `"_default"`, `"rt:xg": {"required": ["rt:xg"]}, "mt:xgboost": {"required": ["mt:xgboost"]}, "_default"`, 1)
	cm, err := s.kube.CoreV1().ConfigMaps(ns).Get(t.Context(), typeConstraintsVol, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.BinaryData[typeConstraintsKey] = []byte(withXGBoost)
	if _, err := s.kube.CoreV1().ConfigMaps(ns).Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	s.runtimePod(t, ns, "xg", "mt:xgboost,pv:grpc-v2,rt:xg")

	resp := setVModel(t, c, "xg-model", "xg-model__isvc-0123456789", "mt:xgboost", "models/xg", true)
	active := resp.GetActiveModelStatus()
	want := noHomeMessage + "mt:xgboost: [_no_runtime]"
	// The refresh counts from model-mesh's first look at the changed ConfigMap, this very request, so
	// the answer does not depend on how long the steps above took.
	if active.GetStatus() != mmesh.ModelStatusInfo_LOADING_FAILED || len(active.GetErrors()) != 1 || active.GetErrors()[0] != want {
		t.Errorf("within the refresh: %v %q, want LOADING_FAILED %q", active.GetStatus(), active.GetErrors(), want)
	}
	waitActive(t, c, "xg-model", mmesh.ModelStatusInfo_LOADED)
	if waited := time.Since(changed); waited < refresh {
		t.Errorf("loaded %s after the change, before the refresh (%s)", waited, refresh)
	}
}
