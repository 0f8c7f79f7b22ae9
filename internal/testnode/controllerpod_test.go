package testnode_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testcluster"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// servingConfig is the controller's user ConfigMap (model-serving-config, key config.yaml, in its
// namespace: modelmesh-serving main.go UserConfigMapName, pkg/config), overriding
// config/default/config-defaults.yaml as a user's would: model-mesh's and the adapter's images
// from the node's registry (same names and tags as the defaults, the adapter's command is the
// default's too but unused: built-in adapters run /opt/app/<serverType>-adapter, runtime.go);
// one Pod per runtime, because model-mesh's stand-in in process mode places models only on its
// own instance and does not forward to the others; no REST proxy, which has no
// stand-in yet (so no port 8008: inference goes through gRPC 8033).
func servingConfig(node *testnode.Node) string {
	image := func(ref string) string {
		i := strings.LastIndex(ref, ":")
		return "\n  name: " + ref[:i] + "\n  tag: " + ref[i+1:]
	}
	return "podsPerRuntime: 1\nrestProxy:\n  enabled: false\nmodelMeshImage:" + image(node.Image(modelMeshImage)) +
		"\nstorageHelperImage:" + image(node.Image(adapterTag)) + "\n"
}

// startServing starts the ModelMesh Serving controller on the shared cluster (as a process, as
// testcluster.StartLocal runs it), with servingConfig and its etcd Secret naming model-mesh's etcd
// on the node's InternalIP (modelMeshEtcd), which the controller and the Pods both reach. No
// in-process model-mesh stand-in runs in this test binary: the runtime Pods' mm containers are
// model-mesh, so nothing else serves their addresses.
func startServing(ctx context.Context, t *testing.T, node *testnode.Node, client kubernetes.Interface) *clientv3.Client {
	t.Helper()
	ip, _ := internalIP(ctx, t, client, node)
	etcdURL, etcd := modelMeshEtcd(ctx, t, ip)
	if err := shared.cluster.CreateNamespace(ctx, testcluster.ServingNamespace, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "model-serving-config", Namespace: testcluster.ServingNamespace},
		Data:       map[string]string{"config.yaml": servingConfig(node)},
	}
	if _, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stopController, err := shared.cluster.StartServing(ctx, etcdURL)
	if stopController != nil {
		// Registered after model-mesh's etcd, so run before it stops.
		t.Cleanup(func() {
			if err := stopController(); err != nil {
				t.Errorf("stop the ModelMesh controller: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return etcd
}

// mlserverRuntime is upstream's mlserver-1.x runtime (config/runtimes/mlserver-1.x.yaml) as a
// ServingRuntime of namespace, its image the node's registry's image, pinned to the real node by a
// nodeSelector (the controller copies it into the Deployment: runtime.go
// addPassThroughPodFieldsToDeployment) so that the scheduler does not place it on a KWOK Node. It
// also declares the model format "linear": the model's stored model-settings.json names the
// MLServer stand-in's implementation, as a custom MLServer model does (the adapter keeps a stored
// settings file's implementation: model-mesh-mlserver-adapter server.go processConfigJSON).
func mlserverRuntime(t *testing.T, node *testnode.Node, namespace, image string) *unstructured.Unstructured {
	t.Helper()
	assets, err := testcluster.ModelMeshAssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := testcluster.ReadUpstreamRuntimes(assets)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := upstream.Runtime("mlserver-1.x")
	if err != nil {
		t.Fatal(err)
	}
	rt.SetKind("ServingRuntime")
	rt.SetNamespace(namespace)
	containers, _, _ := unstructured.NestedSlice(rt.Object, "spec", "containers")
	formats, _, _ := unstructured.NestedSlice(rt.Object, "spec", "supportedModelFormats")
	var container map[string]any
	if len(containers) == 1 {
		container, _ = containers[0].(map[string]any)
	}
	if container == nil {
		t.Fatalf("mlserver-1.x's containers: %v, want the mlserver container", containers)
	}
	container["image"] = node.Image(image)
	for field, value := range map[string]any{
		"containers":            containers,
		"nodeSelector":          map[string]any{"kubernetes.io/hostname": node.Name},
		"supportedModelFormats": append(formats, map[string]any{"name": "linear", "autoSelect": true}),
	} {
		if err := unstructured.SetNestedField(rt.Object, value, "spec", field); err != nil {
			t.Fatal(err)
		}
	}
	return rt
}

// inferenceService is a ModelMesh InferenceService of the linear format stored at path under the
// storage-config key localMinIO, as asm_inference_service writes one.
func inferenceService(name, namespace, path string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{
			"name": name, "namespace": namespace,
			"annotations": map[string]any{"serving.kserve.io/deploymentMode": "ModelMesh"},
		},
		"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{
			"modelFormat": map[string]any{"name": "linear"},
			"storage":     map[string]any{"key": "localMinIO", "path": path},
		}}},
	}}
}

// TestRealNodeControllerPod: the real ModelMesh Serving controller generates the mlserver-1.x
// runtime's Deployment, and its Pod (mm, mlserver, mlserver-adapter as the controller builds them)
// runs on the real node; an InferenceService turns Ready because the controller reads the records
// the in-Pod model-mesh writes to etcd, and answers an inference through a port forward to the
// modelmesh-serving Service's gRPC port (ModelMesh's quickstart: kubectl port-forward
// service/modelmesh-serving 8033); an InferenceService whose model file is invalid shows the real
// adapter's error in its status, as the controller copies it.
func TestRealNodeControllerPod(t *testing.T) {
	began := time.Now()
	_, node, client := startNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	runtimeAsset(t, puller.MLServerAdapterEnv)
	versitygw := runtimeAsset(t, objectstore.BinaryEnv)
	etcd := startServing(ctx, t, node, client)
	ns := testcluster.ServingNamespace
	settings := []byte(`{"implementation": "` + modelserver.Implementation + `", "parameters": {"uri": "./model.json"}}`)
	modelStorage(ctx, t, client, node, versitygw, ns, map[string][]byte{
		"linear/model-settings.json": settings, "linear/model.json": []byte(`{"weights": [2, -1], "bias": 0.25}`),
		"broken/model-settings.json": settings, "broken/model.json": []byte(`{"weights": [1, 2`),
	})

	dyn, err := dynamic.NewForConfig(shared.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	rt := mlserverRuntime(t, node, ns, mlserverImage)
	if _, err := dyn.Resource(kube.ServingRuntime.GVR).Namespace(ns).Create(ctx, rt, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(kube.ServingRuntime.GVR).Namespace(ns).Delete(context.Background(), rt.GetName(), metav1.DeleteOptions{})
	})
	isvcs := dyn.Resource(kube.InferenceService.GVR).Namespace(ns)
	for name, path := range map[string]string{"linear": "linear", "broken": "broken"} {
		if _, err := isvcs.Create(ctx, inferenceService(name, ns, path), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = isvcs.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	// The controller's runtime Pod, on the real node.
	pod := runtimePod(ctx, t, client, ns, rt.GetName())
	if pod.Spec.NodeName != node.Name {
		t.Fatalf("runtime Pod %s scheduled on %q, want the real node %s", pod.Name, pod.Spec.NodeName, node.Name)
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	if want := []string{"mlserver", "mlserver-adapter", "mm"}; !slices.Equal(slices.Sorted(slices.Values(names)), want) {
		t.Errorf("runtime Pod containers %v, want %v as the controller builds them (no rest-proxy: disabled)", names, want)
	}
	pod = waitPod(ctx, t, client, node, pod, "Ready", podReady)
	for _, image := range []string{modelMeshImage, adapterTag, mlserverImage} {
		if !pulled(node, image) {
			t.Errorf("the registry's log shows no pull of %s:\n%s", image, node.RegistryLog())
		}
	}
	t.Logf("controller's runtime Pod %s Ready on %s %s after the ServingRuntime's creation", pod.Name, node.Name, time.Since(created).Round(100*time.Millisecond))

	linear := waitInferenceService(ctx, t, dyn, pod, "linear", "Ready", func(st map[string]any) bool {
		return condition(st, "Ready") == "True" && nested(st, "modelStatus", "states", "activeModelState") == "Loaded"
	})
	t.Logf("InferenceService linear Ready %s after its creation", time.Since(created).Round(100*time.Millisecond))
	if copies := nested(linear, "modelStatus", "copies", "totalCopies"); copies != int64(1) {
		t.Errorf("linear's modelStatus.copies.totalCopies = %v, want 1 (the one Pod)", copies)
	}

	phase := time.Now()
	addr := forwardService(ctx, t, client, ns, "modelmesh-serving", 8033)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(puller.Codec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// As the quickstart's grpcurl call: ModelInfer naming the InferenceService (the vmodel).
	in := modelserver.InferRequest{ModelName: "linear", ID: "controller-1", Inputs: []modelserver.Tensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{3, 2}, FP32: []float32{1, 1, 3, 2, 0, 4}},
	}}.Marshal()
	var raw []byte
	if err := conn.Invoke(ctx, "/"+modelserver.Service+"/ModelInfer", &in, &raw); err != nil {
		t.Fatalf("ModelInfer through the modelmesh-serving Service: %v\n%s", err, containerLogs(ctx, t, pod))
	}
	out, err := modelserver.UnmarshalInferResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// 2·x0 − x1 + 0.25 for each row, from the model the vmodel resolves to (linear__isvc-<hash>).
	if want := []float32{1.25, 4.25, -3.75}; len(out.Outputs) != 1 || !slices.Equal(out.Outputs[0].FP32, want) ||
		!strings.HasPrefix(out.ModelName, "linear__isvc-") || out.ID != "controller-1" {
		t.Errorf("ModelInfer = %+v, want %v from linear__isvc-…", out, want)
	}
	t.Logf("ModelInfer through the Service's port forward answered in %s", time.Since(phase).Round(100*time.Millisecond))
	// The model's record, which the controller watches (pkg/mmesh modelmesh_events.go), is the in-Pod
	// model-mesh's: a copy on the Pod's instance (the pod name's last 12 characters).
	var rec struct {
		InstanceIDs map[string]int64 `json:"instanceIds"`
	}
	etcdRecord(ctx, t, etcd, testcluster.EtcdRootPrefix+"/mm/modelmesh-serving/registry/"+out.ModelName, &rec)
	if _, ok := rec.InstanceIDs[pod.Name[len(pod.Name)-12:]]; !ok || len(rec.InstanceIDs) != 1 {
		t.Errorf("registry record of %s: copies %v, want one on %s", out.ModelName, rec.InstanceIDs, pod.Name)
	}

	// The broken model: the real adapter's error, recorded by model-mesh in etcd, copied by the
	// controller into the InferenceService's status (predictor_controller.go: LastFailureInfo).
	broken := waitInferenceService(ctx, t, dyn, pod, "broken", "FailedToLoad", func(st map[string]any) bool {
		return nested(st, "modelStatus", "states", "activeModelState") == "FailedToLoad" &&
			nested(st, "modelStatus", "lastFailureInfo", "message") != nil
	})
	const wantFailure = "INTERNAL: Failed to load Model due to MLServer runtime error: rpc error: code = Internal desc = json.decoder.JSONDecodeError: unexpected EOF"
	if msg := nested(broken, "modelStatus", "lastFailureInfo", "message"); msg != wantFailure {
		t.Errorf("broken's lastFailureInfo.message = %q, want %q", msg, wantFailure)
	}
	if reason := nested(broken, "modelStatus", "lastFailureInfo", "reason"); reason != "ModelLoadFailed" {
		t.Errorf("broken's lastFailureInfo.reason = %v, want ModelLoadFailed", reason)
	}
	if c := condition(broken, "Ready"); c != "False" {
		t.Errorf("broken's Ready condition = %q, want False", c)
	}
	t.Logf("controller-driven runtime Pod: Ready, InferenceService Ready, answered, failure shown: %s from the ServingRuntime's creation, %s with the shared node's and controller's start",
		time.Since(created).Round(100*time.Millisecond), time.Since(began).Round(time.Second))

	// A subtest, as it needs the controller and model-mesh's etcd this test started.
	t.Run("RuntimeImageMissing", func(t *testing.T) { runtimeImageMissing(ctx, t, node, client, dyn) })
}

// runtimeImageMissing: a runtime whose image the registry does not have, in a namespace of its own
// (its own model-mesh cluster: the controller's Service, tc-config and etcd Secret per namespace),
// so that no other runtime could load its model. The controller's Pod waits in ImagePullBackOff on
// the runtime's container, never Ready, so the Service has no ready address and the controller's
// SetVModel finds none: the InferenceService shows RuntimeUnhealthy, "Waiting for runtime Pod to
// become available" (predictor_controller.go, isNoAddresses).
func runtimeImageMissing(ctx context.Context, t *testing.T, node *testnode.Node, client kubernetes.Interface, dyn dynamic.Interface) {
	const ns = "controller-pod-image-missing"
	if err := shared.cluster.CreateNamespace(ctx, ns, map[string]string{"modelmesh-enabled": "true"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	// The Pod mounts storage-config (runtime.go addVolumesToDeployment); without it the kubelet
	// would not start the Pod at all. The model is never pulled: the Pod never runs its runtime.
	storage, err := client.CoreV1().Secrets(testcluster.ServingNamespace).Get(ctx, "storage-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copied := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: storage.Name}, Data: storage.Data}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, copied, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const missing = "seldonio/mlserver:0.0.0-missing"
	rt := mlserverRuntime(t, node, ns, missing)
	if _, err := dyn.Resource(kube.ServingRuntime.GVR).Namespace(ns).Create(ctx, rt, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(kube.InferenceService.GVR).Namespace(ns).Create(ctx, inferenceService("linear", ns, "linear"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := runtimePod(ctx, t, client, ns, rt.GetName())
	image := node.Image(missing)
	pod = waitPod(ctx, t, client, node, pod, "ImagePullBackOff on mlserver", func(p *corev1.Pod) bool {
		w := containerWaiting(p, "mlserver")
		return w != nil && w.Reason == "ImagePullBackOff"
	})
	if w := containerWaiting(pod, "mlserver"); !strings.Contains(w.Message, image) {
		t.Errorf("mlserver's waiting message %q does not name %s", w.Message, image)
	}
	failed := waitEvent(ctx, t, client, node, pod, "Failed", `Failed to pull image "`+image+`"`)
	if !strings.Contains(failed.Message, "not found") {
		t.Errorf("Failed event %q: want the registry's not found", failed.Message)
	}
	st := waitInferenceService(ctx, t, dyn, pod, "linear", "waiting for its runtime", func(st map[string]any) bool {
		return nested(st, "modelStatus", "lastFailureInfo", "reason") == "RuntimeUnhealthy"
	})
	if msg := nested(st, "modelStatus", "lastFailureInfo", "message"); msg != "Waiting for runtime Pod to become available" {
		t.Errorf("lastFailureInfo.message = %q, want the controller's Waiting for runtime Pod to become available", msg)
	}
	if state := nested(st, "modelStatus", "states", "activeModelState"); state != "Pending" {
		t.Errorf("activeModelState = %v, want Pending (never loaded)", state)
	}
	if c := condition(st, "Ready"); c != "False" {
		t.Errorf("Ready condition = %q, want False", c)
	}
	t.Logf("runtime image missing: mlserver %s; InferenceService %v, lastFailureInfo %v", containerWaiting(pod, "mlserver").Reason,
		nested(st, "modelStatus", "states"), nested(st, "modelStatus", "lastFailureInfo"))
}

// runtimePod waits for the one Pod of the controller's Deployment for the runtime
// (modelmesh-serving-<runtime>, scaled to podsPerRuntime once a predictor uses the runtime).
func runtimePod(ctx context.Context, t *testing.T, client kubernetes.Interface, namespace, runtime string) *corev1.Pod {
	t.Helper()
	selector := labels.SelectorFromSet(labels.Set{"modelmesh-service": "modelmesh-serving", "name": "modelmesh-serving-" + runtime}).String()
	var pod *corev1.Pod
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) != 1 {
			return false, nil //nolint:nilerr // the poll bounds the wait
		}
		pod = &pods.Items[0]
		return true, nil
	}); err != nil {
		t.Fatalf("no runtime Pod (%s) from the controller: %v\ncontroller log:\n%s", selector, err, shared.cluster.ProcessLog(testcluster.ControllerManager))
	}
	return pod
}

// waitInferenceService polls the InferenceService's status until done says so, and returns it.
func waitInferenceService(ctx context.Context, t *testing.T, dyn dynamic.Interface, pod *corev1.Pod, name, what string, done func(status map[string]any) bool) map[string]any {
	t.Helper()
	var st map[string]any
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		obj, err := dyn.Resource(kube.InferenceService.GVR).Namespace(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // the poll bounds the wait
		}
		st, _ = obj.Object["status"].(map[string]any)
		return done(st), nil
	}); err != nil {
		t.Fatalf("InferenceService %s not %s: %v\nstatus: %v\ncontroller log:\n%s\n%s", name, what, err, st,
			shared.cluster.ProcessLog(testcluster.ControllerManager), containerLogs(ctx, t, pod))
	}
	return st
}

// nested is the value at path in obj, or nil.
func nested(obj map[string]any, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	return v
}

// condition is the status of the condition of type typ in an object's status.
func condition(st map[string]any, typ string) string {
	conditions, _ := st["conditions"].([]any)
	for _, c := range conditions {
		if c, _ := c.(map[string]any); c["type"] == typ {
			s, _ := c["status"].(string)
			return s
		}
	}
	return ""
}

// forwardService forwards a local port to the Service's port as kubectl port-forward service/<name>
// does (kubectl's AttachablePodForObject and LookupContainerPortNumberByServicePort): to a running
// Pod its selector matches, at the Service port's targetPort, a container port's name resolved in
// that Pod.
func forwardService(ctx context.Context, t *testing.T, client kubernetes.Interface, namespace, name string, port int32) string {
	t.Helper()
	svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
	if i < 0 {
		t.Fatalf("Service %s has no port %d: %+v", name, port, svc.Spec.Ports)
	}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		t.Fatal(err)
	}
	j := slices.IndexFunc(pods.Items, func(p corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if j < 0 {
		t.Fatalf("no running Pod behind Service %s (selector %v)", name, svc.Spec.Selector)
	}
	pod := &pods.Items[j]
	target := svc.Spec.Ports[i].TargetPort
	containerPort := target.IntValue()
	if target.StrVal != "" {
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == target.StrVal {
					containerPort = int(p.ContainerPort)
				}
			}
		}
	}
	if containerPort == 0 {
		t.Fatalf("Service %s port %d: targetPort %s names no container port of %s", name, port, target.String(), pod.Name)
	}
	return portForward(ctx, t, pod, containerPort)
}
