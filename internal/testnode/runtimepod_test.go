package testnode_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// The runtime Pod's images, named as ModelMesh Serving v0.12.0 names the real ones: the mlserver
// container's (config/runtimes/mlserver-1.x.yaml's mlserver-1 image is seldonio/mlserver:1.3.2; its
// tag is the adapter's RUNTIME_VERSION) and the adapter's (config/default/config-defaults.yaml
// storageHelperImage).
const (
	mlserverImage = "seldonio/mlserver:" + modelserver.Version
	adapterTag    = "kserve/modelmesh-runtime-adapter:v0.12.0"
)

// adapterImage is the runtime adapter's image with the MLServer adapter binary as its only file.
// The real image (modelmesh-runtime-adapter's Dockerfile) holds every adapter under /opt/app/,
// defines no entrypoint (its Pods name the binary: the controller's Command) and runs as USER 2000.
func adapterImage(binary string) testnode.Image {
	return testnode.Image{Name: adapterTag, Binary: binary, Path: "/opt/app/mlserver-adapter", User: "2000"}
}

// runtimeAsset returns the binary that the environment variable env names. Under make (NODE_ASSETS
// set) a missing one fails the test naming it, as acctest.RealNodeAssets does for the node's;
// under plain go test the test skips.
func runtimeAsset(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if _, err := os.Stat(path); path != "" && err == nil {
		return path
	}
	if _, required := os.LookupEnv("NODE_ASSETS"); required {
		t.Fatalf("the runtime Pod needs %s=%q, a binary make builds as $(%s)", env, path, env)
	}
	t.Skipf("set %s to the binary make builds as $(%s)", env, env)
	return ""
}

// The mlserver-1.x runtime's ports (config/runtimes/mlserver-1.x.yaml): the adapter's ModelRuntime
// API (grpcEndpoint port:8085, the controller's default ADAPTER_PORT) and MLServer's gRPC port
// (grpcDataEndpoint port:8001, builtInAdapter.runtimeManagementPort).
const (
	adapterPort  = 8085
	mlserverPort = 8001
)

// runtimePodSpec is the Pod template the ModelMesh controller v0.12.0 generates for the mlserver-1.x
// ClusterServingRuntime, less the containers that are not here yet (mm, rest-proxy) and their
// hooks: controllers/modelmesh/runtime.go addRuntimeToDeployment (the runtime's containers with the
// models-dir mount at /models and a drop-ALL security context; the <serverType>-adapter container
// with its env, the storage-config mount at /storage-config and the puller's resources) and
// addVolumesToDeployment (models-dir, an emptyDir of 1.5 times the containers' memory limits; the
// storage-config Secret). The preStop hooks (GET :8090/prestop) are left out: they call mm.
func runtimePodSpec(node *testnode.Node) corev1.PodSpec {
	dropAll := &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	models := corev1.VolumeMount{Name: "models-dir", MountPath: "/models"}
	env := func(kv ...string) []corev1.EnvVar {
		var vars []corev1.EnvVar
		for i := 0; i < len(kv); i += 2 {
			vars = append(vars, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
		}
		return vars
	}
	resources := func(reqCPU, reqMem, limCPU, limMem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(reqCPU), corev1.ResourceMemory: resource.MustParse(reqMem)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limCPU), corev1.ResourceMemory: resource.MustParse(limMem)},
		}
	}
	adapterEnv := env("ADAPTER_PORT", "8085", "RUNTIME_PORT", "8001", "RUNTIME_DATA_ENDPOINT", "port:8001")
	adapterEnv = append(adapterEnv, corev1.EnvVar{Name: "CONTAINER_MEM_REQ_BYTES", ValueFrom: &corev1.EnvVarSource{
		ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "mlserver", Resource: "requests.memory"},
	}})
	adapterEnv = append(adapterEnv, env("MEM_BUFFER_BYTES", "134217728", "LOADTIME_TIMEOUT", "90000",
		"USE_EMBEDDED_PULLER", "true", "RUNTIME_VERSION", modelserver.Version)...)
	modelsDirSize := resource.NewQuantity(3<<29, resource.BinarySI) // 1.5 × the mlserver container's 1Gi limit
	return corev1.PodSpec{
		NodeName: node.Name,
		Containers: []corev1.Container{{
			Name: "mlserver", Image: node.Image(mlserverImage),
			// mlserver-1.x.yaml's env, as the controller copies it.
			Env: env("MLSERVER_MODELS_DIR", "/models/_mlserver_models/", "MLSERVER_GRPC_PORT", "8001",
				"MLSERVER_HTTP_PORT", "8002", "MLSERVER_LOAD_MODELS_AT_STARTUP", "false",
				"MLSERVER_MODEL_NAME", "dummy-model-fixme", "MLSERVER_HOST", "127.0.0.1",
				"MLSERVER_GRPC_MAX_MESSAGE_LENGTH", "-1"),
			Resources:       resources("500m", "1Gi", "5", "1Gi"),
			VolumeMounts:    []corev1.VolumeMount{models},
			SecurityContext: dropAll,
		}, {
			Name: "mlserver-adapter", Image: node.Image(adapterTag), Command: []string{"/opt/app/mlserver-adapter"},
			Env: adapterEnv,
			// config-defaults.yaml storageHelperResources.
			Resources:       resources("50m", "96Mi", "2", "512Mi"),
			VolumeMounts:    []corev1.VolumeMount{models, {Name: "storage-config", MountPath: "/storage-config", ReadOnly: true}},
			SecurityContext: dropAll,
		}},
		Volumes: []corev1.Volume{
			{Name: "models-dir", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: modelsDirSize}}},
			{Name: "storage-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "storage-config"}}},
		},
	}
}

// TestRealNodeRuntimePod: the mlserver-1.x runtime Pod's serving containers run on the real node,
// from images pulled from the node's registry: the real MLServer adapter
// (model-mesh-mlserver-adapter v0.12.0) and the MLServer stand-in (cmd/mlserver). A model goes from
// the real object store (versitygw, listening on the node's InternalIP, which the Pod's network
// reaches through the bridge's gateway) through the adapter's embedded puller, which reads the
// mounted storage-config Secret, into the stand-in, and answers an inference, all inside the Pod.
// The test calls the adapter's ModelRuntime API itself, as model-mesh does, through a port forward;
// TestRealNodeModelMeshPod runs the same Pod with model-mesh's stand-in as its mm container.
func TestRealNodeRuntimePod(t *testing.T) {
	began := time.Now()
	ctx, node, client := startNode(t)
	runtimeAsset(t, puller.MLServerAdapterEnv)
	versitygw := runtimeAsset(t, objectstore.BinaryEnv)

	settings := []byte(`{"implementation": "` + modelserver.Implementation + `", "parameters": {"uri": "./model.json"},
		"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
		"outputs": [{"name": "predict", "datatype": "FP32", "shape": [-1, 1]}]}`)
	linear := []byte(`{"weights": [2, -1], "bias": 0.25}`)
	ns := runtimeNamespace(ctx, t, client, node, versitygw, map[string][]byte{"linear/model-settings.json": settings, "linear/model.json": linear})

	created := time.Now()
	pod := createPod(ctx, t, client, ns, runtimePodSpec(node))
	pod = waitPod(ctx, t, client, node, pod, "Ready", func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
	for _, image := range []string{mlserverImage, adapterTag} {
		if !pulled(node, image) {
			t.Errorf("the registry's log shows no pull of %s:\n%s", image, node.RegistryLog())
		}
	}
	t.Logf("runtime Pod %s/%s Ready %s after its creation (IP %s)", pod.Namespace, pod.Name, time.Since(created).Round(100*time.Millisecond), pod.Status.PodIP)

	adapter, err := puller.Dial(portForward(ctx, t, pod, adapterPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adapter.Stop)
	// model-mesh asks runtimeStatus until READY before it places a model. The adapter may still be
	// connecting to MLServer (it dials without blocking), so ask again for a while, as model-mesh does.
	var st puller.RuntimeStatus
	var stErr error
	err = wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		st, stErr = adapter.RuntimeStatus(ctx)
		return stErr == nil && st.Status == puller.RuntimeStatusReady, nil
	})
	if err != nil {
		t.Fatalf("runtimeStatus not READY: %+v, %v (last error: %v)\n%s", st, err, stErr, containerLogs(ctx, t, pod))
	}
	// Its capacity is the mlserver container's memory request, which the kubelet gave the adapter
	// through the downward API (CONTAINER_MEM_REQ_BYTES), less MEM_BUFFER_BYTES.
	if st.CapacityInBytes != 1<<30-134217728 || st.RuntimeVersion != modelserver.Version {
		t.Errorf("runtimeStatus = %+v, want capacity %d, version %s", st, 1<<30-134217728, modelserver.Version)
	}

	const id = "linear__isvc-0d6f2c"
	key := func(storageKey string) string {
		return `{"storage_key":"` + storageKey + `","model_type":{"name":"linear"}}`
	}
	resp, err := adapter.LoadModel(ctx, puller.LoadModelRequest{ModelID: id, ModelType: "linear", ModelPath: "linear", ModelKey: key("localMinIO")})
	if err != nil {
		t.Fatalf("loadModel: %v\n%s", err, containerLogs(ctx, t, pod))
	}
	// The pulled files' size times the adapter's default MODELSIZE_MULTIPLIER, 1.25.
	if want := uint64(float64(len(settings)+len(linear)) * 1.25); resp.SizeInBytes != want {
		t.Errorf("loadModel size %d, want %d", resp.SizeInBytes, want)
	}

	conn, err := grpc.NewClient(portForward(ctx, t, pod, mlserverPort), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(puller.Codec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	infer := func(req modelserver.InferRequest) (modelserver.InferResponse, error) {
		in, out := req.Marshal(), []byte(nil)
		if err := conn.Invoke(ctx, "/"+modelserver.Service+"/ModelInfer", &in, &out); err != nil {
			return modelserver.InferResponse{}, err
		}
		return modelserver.UnmarshalInferResponse(out)
	}
	request := modelserver.InferRequest{ModelName: id, ID: "pod-1", Inputs: []modelserver.Tensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{3, 2}, FP32: []float32{1, 1, 3, 2, 0, 4}},
	}}
	want := []float32{1.25, 4.25, -3.75} // 2·x0 − x1 + 0.25 for each row
	out, err := infer(request)
	if err != nil {
		t.Fatalf("ModelInfer: %v\n%s", err, containerLogs(ctx, t, pod))
	}
	if len(out.Outputs) != 1 || out.ID != "pod-1" || !slices.Equal(out.Outputs[0].FP32, want) || !slices.Equal(out.Outputs[0].Shape, []int64{3, 1}) {
		t.Errorf("ModelInfer = %+v, want id pod-1, output %v shaped [3 1]", out, want)
	}

	if err := adapter.UnloadModel(ctx, id); err != nil {
		t.Fatalf("unloadModel: %v", err)
	}
	if _, err := infer(request); status.Code(err) != codes.NotFound || status.Convert(err).Message() != "Model "+id+" not found" {
		t.Errorf("ModelInfer after unloadModel: %v, want NOT_FOUND Model %s not found", err, id)
	}

	// A storage key the mounted Secret does not have: the embedded puller's message, as model-mesh
	// receives it (model-serving-puller/puller: puller.go and config.go).
	_, err = adapter.LoadModel(ctx, puller.LoadModelRequest{ModelID: "other__isvc-1", ModelType: "linear", ModelPath: "linear", ModelKey: key("otherMinIO")})
	wantErr := "Did not find storage config for key otherMinIO: Storage secretKey not found: otherMinIO"
	if st := status.Convert(err); err == nil || st.Code() != codes.Unknown || st.Message() != wantErr {
		t.Errorf("loadModel with a key missing from storage-config: %v, want UNKNOWN %q", err, wantErr)
	}
	t.Logf("runtime Pod: Ready, loaded, answered, unloaded, refused a missing key: %s from its creation, %s with the shared node's start",
		time.Since(created).Round(100*time.Millisecond), time.Since(began).Round(time.Second))
}

// runtimeNamespace returns a new namespace holding modelStorage's storage-config Secret.
func runtimeNamespace(ctx context.Context, t *testing.T, client kubernetes.Interface, node *testnode.Node, versitygw string, objects map[string][]byte) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "runtime-pod-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	modelStorage(ctx, t, client, node, versitygw, ns.Name, objects)
	return ns.Name
}

// modelStorage starts the real object store (versitygw) on the node's InternalIP, which the Pod's
// network reaches through the bridge's gateway, holding objects in the bucket the storage-config
// Secret names, and creates that Secret in namespace: one key per storage, each a JSON document, as
// asm_model_storage writes it (internal/provider model_storage_mapping.go;
// reference/modelmesh-examples/minio-storage-secret.yaml), key localMinIO.
func modelStorage(ctx context.Context, t *testing.T, client kubernetes.Interface, node *testnode.Node, versitygw, namespace string, objects map[string][]byte) {
	t.Helper()
	const bucket = "modelmesh-example-models"
	ip, _ := internalIP(ctx, t, client, node)
	store, err := objectstore.Start(ctx, objectstore.Options{
		Binary: versitygw, Host: ip, Bucket: bucket, Log: childproc.TestLog(t, "versitygw"), Objects: objects,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Stop)
	doc, err := json.Marshal(map[string]string{
		"type": "s3", "access_key_id": store.AccessKey, "secret_access_key": store.SecretKey,
		"endpoint_url": store.Endpoint, "bucket": bucket, "region": store.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "storage-config"}, StringData: map[string]string{"localMinIO": string(doc)}}
	if _, err := client.CoreV1().Secrets(namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Secrets(namespace).Delete(context.Background(), secret.Name, metav1.DeleteOptions{})
	})
}

// containerLogs is the runtime Pod's containers' logs, read through the apiserver, for a failure's
// message.
func containerLogs(ctx context.Context, t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	var logs string
	for _, c := range pod.Spec.Containers {
		b, err := shared.client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(ctx)
		logs += "--- " + c.Name + " log:\n" + string(b)
		if err != nil {
			logs += "(" + err.Error() + ")\n"
		}
	}
	return logs
}
