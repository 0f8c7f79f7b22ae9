package testnode_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kserve/modelmesh-serving/generated/mmesh"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/childproc"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/modelserver"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/objectstore"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/puller"
	"github.com/asm-modelmesh/terraform-provider-asm/internal/testnode"
)

// modelMeshImage is the mm container's image as the controller names it (config-defaults.yaml
// modelMeshImage: kserve/modelmesh, tag v0.12.0); here its only file is model-mesh's stand-in
// (internal/mmeshfake/cmd/model-mesh), built by startShared.
const modelMeshImage = "kserve/modelmesh:v0.12.0"

// modelMeshPort is the mm container's gRPC port (MM_SVC_GRPC_PORT, the controller's default 8033).
const modelMeshPort = 8033

// withModelMesh adds what the ModelMesh controller v0.12.0 adds to a runtime Pod for model-mesh:
// the mm container of config/internal/base/deployment.yaml.tmpl (env, grpc port, probes on 8089,
// resources of config-defaults.yaml modelMeshResources), the env of controllers/modelmesh
// modelmesh.go (INTERNAL_SERVING_GRPC_PORT from the runtime's grpcDataEndpoint, INTERNAL_GRPC_PORT
// the adapter's port, MM_KVSTORE_PREFIX mm, MM_DEFAULT_VMODEL_OWNER ksp) and constraints.go
// (MM_LABELS, the tc-config ConfigMap at /etc/watson/mmesh/config), and etcd.go (the etcd-config
// Secret at /opt/kserve/mmesh/etcd, KV_STORE naming its key). Left out: the preStop hook
// (/opt/kserve/mmesh/stop.sh wait, a script of the real image; the stand-in leaves on SIGTERM) and
// metrics. labels is MM_LABELS.
func withModelMesh(spec corev1.PodSpec, node *testnode.Node, labels string) corev1.PodSpec {
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		{Name: "MM_SERVICE_NAME", Value: "modelmesh-serving"}, {Name: "MM_SVC_GRPC_PORT", Value: "8033"},
		fieldEnv("WKUBE_POD_NAME", "metadata.name"), fieldEnv("WKUBE_POD_IPADDR", "status.podIP"), fieldEnv("MM_LOCATION", "status.hostIP"),
		{Name: "KV_STORE", Value: "etcd:/opt/kserve/mmesh/etcd/etcd_connection"}, {Name: "MM_METRICS", Value: "disabled"},
		{Name: "SHUTDOWN_TIMEOUT_MS", Value: "90000"},
		{Name: "INTERNAL_SERVING_GRPC_PORT", Value: "8001"}, {Name: "INTERNAL_GRPC_PORT", Value: "8085"},
		{Name: "MM_KVSTORE_PREFIX", Value: "mm"}, {Name: "MM_DEFAULT_VMODEL_OWNER", Value: "ksp"},
		{Name: "MM_LABELS", Value: labels},
		{Name: "MM_TYPE_CONSTRAINTS_PATH", Value: "/etc/watson/mmesh/config/type_constraints"},
		{Name: "MM_DATAPLANE_CONFIG_PATH", Value: "/etc/watson/mmesh/config/dataplane_api_config"},
	}
	probe := func(path string, delay, period, timeout, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(8089)}},
			InitialDelaySeconds: delay, PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures,
		}
	}
	mm := corev1.Container{
		Name: "mm", Image: node.Image(modelMeshImage), Env: env,
		Ports:          []corev1.ContainerPort{{Name: "grpc", ContainerPort: modelMeshPort}},
		ReadinessProbe: probe("/ready", 5, 5, 1, 3), LivenessProbe: probe("/live", 90, 30, 5, 2),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m"), corev1.ResourceMemory: resource.MustParse("448Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("448Mi")},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "tc-config", MountPath: "/etc/watson/mmesh/config"},
			{Name: "etcd-config", MountPath: "/opt/kserve/mmesh/etcd", ReadOnly: true},
		},
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	spec.Containers = append([]corev1.Container{mm}, spec.Containers...)
	spec.Volumes = append(spec.Volumes,
		corev1.Volume{Name: "tc-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "tc-config"}}}},
		corev1.Volume{Name: "etcd-config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "model-serving-etcd"}}})
	return spec
}

// modelMeshEtcd starts an etcd for model-mesh's registry on the node's InternalIP, which Pods
// reach; the test cluster's etcd listens on loopback only, inside no Pod's reach. ModelMesh Serving
// runs model-mesh on an etcd of its own too (the quickstart's etcd Deployment,
// config/dependencies/quickstart.yaml), which the etcd-config Secret names.
func modelMeshEtcd(ctx context.Context, t *testing.T, ip string) (string, *clientv3.Client) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is unset: model-mesh's etcd is its etcd binary")
	}
	free := func(host string) string {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		return "http://" + l.Addr().String()
	}
	client, peer := free(ip), free("127.0.0.1")
	cmd := exec.Command(filepath.Join(assets, "etcd"), "--name", "mm", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "mm="+peer)
	log := childproc.TestLog(t, "mm-etcd")
	cmd.Stdout, cmd.Stderr = log, log
	proc, err := childproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = etcd.Close() })
	if err := proc.WaitReady(ctx, "serve "+client, func() bool {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := etcd.Get(callCtx, "/")
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	return client, etcd
}

// TestRealNodeModelMeshPod: the mlserver-1.x runtime Pod with model-mesh, all three containers
// real processes on the real node: model-mesh's stand-in as mm (configured only from the Pod's
// env and mounts), the real MLServer adapter and the MLServer stand-in. Through a port forward to
// mm's 8033, as the controller's modelmesh client and an inference client reach it: a vmodel set
// as the controller sets an InferenceService's loads (mm -> adapter -> object store -> MLServer),
// is recorded in etcd as model-mesh records it, and answers a KServe V2 ModelInfer naming it with
// the linear model's numbers; a model whose file is not valid fails with the real adapter's
// error; deleting the vmodel unloads the model from MLServer.
func TestRealNodeModelMeshPod(t *testing.T) {
	began := time.Now()
	ctx, node, client := startNode(t)
	runtimeAsset(t, puller.MLServerAdapterEnv)
	versitygw := runtimeAsset(t, objectstore.BinaryEnv)
	settings := []byte(`{"implementation": "` + modelserver.Implementation + `", "parameters": {"uri": "./model.json"}}`)
	ns := runtimeNamespace(ctx, t, client, node, versitygw, map[string][]byte{
		"linear/model-settings.json": settings, "linear/model.json": []byte(`{"weights": [2, -1], "bias": 0.25}`),
		"broken/model-settings.json": settings, "broken/model.json": []byte(`{"weights": [1, 2`),
	})
	ip, _ := internalIP(ctx, t, client, node)
	etcdURL, etcd := modelMeshEtcd(ctx, t, ip)

	// The controller's Secret and ConfigMap: etcd_connection (modelmesh-serving docs/configuration:
	// endpoints, root_prefix) and tc-config (ClusterConfig: type constraints of the runtimes'
	// labels and the dataplane config, cluster_config.go's ModelInfer entry).
	const rootPrefix = "modelmesh-serving"
	conn, err := json.Marshal(map[string]string{"endpoints": etcdURL, "root_prefix": rootPrefix})
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "model-serving-etcd"}, Data: map[string][]byte{"etcd_connection": conn}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tc := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "tc-config"}, BinaryData: map[string][]byte{
		"type_constraints": []byte(`{"linear": {"required": ["mt:linear"]}, "_default": {"required": ["_no_runtime"]}}`),
		"dataplane_api_config": []byte(`{"rpcConfigs": {"inference.GRPCInferenceService/ModelInfer": {"idExtractionPath": [1], "vModelId": true}},
			"allowOtherRpcs": true}`),
	}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, tc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	created := time.Now()
	pod := createPod(ctx, t, client, ns, withModelMesh(runtimePodSpec(node), node, "mt:linear,rt:mlserver-1.x"))
	pod = waitPod(ctx, t, client, node, pod, "Ready", podReady)
	if !pulled(node, modelMeshImage) {
		t.Errorf("the registry's log shows no pull of %s:\n%s", modelMeshImage, node.RegistryLog())
	}
	t.Logf("model-mesh Pod %s/%s Ready %s after its creation", ns, pod.Name, time.Since(created).Round(100*time.Millisecond))

	// model-mesh registered itself in its instances table, under the pod name's last 12 characters,
	// with the node's address as its location (MM_LOCATION from status.hostIP).
	instance := pod.Name[len(pod.Name)-12:]
	prefix := rootPrefix + "/mm/modelmesh-serving/"
	var inst struct {
		Loc    string   `json:"loc"`
		Labels []string `json:"labels"`
	}
	etcdRecord(ctx, t, etcd, prefix+"instances/"+instance, &inst)
	if inst.Loc != pod.Status.HostIP || !slices.Equal(inst.Labels, []string{"mt:linear", "rt:mlserver-1.x"}) {
		t.Errorf("instance record %+v, want loc %s and the Pod's MM_LABELS", inst, pod.Status.HostIP)
	}

	cc, err := grpc.NewClient(portForward(ctx, t, pod, modelMeshPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	mm := mmesh.NewModelMeshClient(cc)
	setVModel := func(vmodel, model, path string) {
		t.Helper()
		// As the controller's modelmesh client registers an InferenceService (pkg/mmesh).
		_, err := mm.SetVModel(ctx, &mmesh.SetVModelRequest{
			VModelId: vmodel, TargetModelId: model, Owner: "ksp", LoadNow: true, AutoDeleteTargetModel: true,
			ModelInfo: &mmesh.ModelInfo{Type: "linear", Path: path, Key: `{"storage_key":"localMinIO","model_type":{"name":"linear"}}`},
		})
		if err != nil {
			t.Fatalf("SetVModel %s: %v\n%s", vmodel, err, containerLogs(ctx, t, pod))
		}
	}
	waitStatus := func(vmodel string, want mmesh.ModelStatusInfo_ModelStatus) {
		t.Helper()
		var last *mmesh.VModelStatusInfo
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			var err error
			last, err = mm.GetVModelStatus(ctx, &mmesh.GetVModelStatusRequest{VModelId: vmodel, Owner: "ksp"})
			return err == nil && last.GetActiveModelStatus().GetStatus() == want, nil
		}); err != nil {
			t.Fatalf("vmodel %s: %v, want %v\n%s", vmodel, last, want, containerLogs(ctx, t, pod))
		}
	}

	const model = "linear-isvc__isvc-0d6f2c"
	phase := time.Now()
	setVModel("linear-isvc", model, "linear")
	waitStatus("linear-isvc", mmesh.ModelStatusInfo_LOADED)
	t.Logf("vmodel LOADED %s after SetVModel", time.Since(phase).Round(100*time.Millisecond))
	var rec struct {
		Type        string           `json:"type"`
		MPath       string           `json:"mPath"`
		InstanceIDs map[string]int64 `json:"instanceIds"`
		Fails       map[string]struct {
			Msg string `json:"msg"`
		} `json:"fails"`
	}
	etcdRecord(ctx, t, etcd, prefix+"registry/"+model, &rec)
	if _, ok := rec.InstanceIDs[instance]; !ok || rec.Type != "linear" || rec.MPath != "linear" {
		t.Errorf("registry record %+v, want type linear, path linear, a copy on %s", rec, instance)
	}

	infer := func(addr, name string) (modelserver.InferResponse, error) {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(puller.Codec{})))
		if err != nil {
			return modelserver.InferResponse{}, err
		}
		defer func() { _ = c.Close() }()
		in := modelserver.InferRequest{ModelName: name, ID: "pod-1", Inputs: []modelserver.Tensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{3, 2}, FP32: []float32{1, 1, 3, 2, 0, 4}},
		}}.Marshal()
		var out []byte
		if err := c.Invoke(ctx, "/"+modelserver.Service+"/ModelInfer", &in, &out); err != nil {
			return modelserver.InferResponse{}, err
		}
		return modelserver.UnmarshalInferResponse(out)
	}
	phase = time.Now()
	mmAddr := portForward(ctx, t, pod, modelMeshPort)
	out, err := infer(mmAddr, "linear-isvc")
	if err != nil {
		t.Fatalf("ModelInfer through mm: %v\n%s", err, containerLogs(ctx, t, pod))
	}
	t.Logf("ModelInfer through mm answered in %s (with its port forward)", time.Since(phase).Round(100*time.Millisecond))
	// 2·x0 − x1 + 0.25 for each row, answered by the model mm resolved the vmodel to.
	if want := []float32{1.25, 4.25, -3.75}; len(out.Outputs) != 1 || !slices.Equal(out.Outputs[0].FP32, want) || out.ModelName != model || out.ID != "pod-1" {
		t.Errorf("ModelInfer = %+v, want %v from %s", out, want, model)
	}

	// A model file MLServer cannot read: the real adapter's error, as model-mesh records it.
	setVModel("broken-isvc", "broken-isvc__isvc-1", "broken")
	waitStatus("broken-isvc", mmesh.ModelStatusInfo_LOADING_FAILED)
	rec.Fails = nil
	etcdRecord(ctx, t, etcd, prefix+"registry/broken-isvc__isvc-1", &rec)
	const wantFailure = "INTERNAL: Failed to load Model due to MLServer runtime error: rpc error: code = Internal desc = json.decoder.JSONDecodeError: unexpected EOF"
	if rec.Fails[instance].Msg != wantFailure {
		t.Errorf("failure recorded %+v, want %q on %s", rec.Fails, wantFailure, instance)
	}

	// Deleting the vmodel deletes its model's record, and mm unloads it from MLServer.
	if _, err := mm.DeleteVModel(ctx, &mmesh.DeleteVModelRequest{VModelId: "linear-isvc", Owner: "ksp"}); err != nil {
		t.Fatal(err)
	}
	mlserverAddr := portForward(ctx, t, pod, mlserverPort)
	var lastErr error
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, lastErr = infer(mlserverAddr, model)
		return status.Code(lastErr) == codes.NotFound && strings.Contains(status.Convert(lastErr).Message(), model), nil
	}); err != nil {
		t.Errorf("MLServer after the vmodel's deletion: %v, want NOT_FOUND Model %s not found\n%s", lastErr, model, containerLogs(ctx, t, pod))
	}
	if resp, err := etcd.Get(ctx, prefix+"registry/"+model); err != nil || len(resp.Kvs) != 0 {
		t.Errorf("registry record of %s after the vmodel's deletion: %v, %v", model, resp, err)
	}
	t.Logf("model-mesh Pod: Ready, loaded, answered, failed with the adapter's error, unloaded: %s from its creation, %s with the shared node's start",
		time.Since(created).Round(100*time.Millisecond), time.Since(began).Round(time.Second))
}

// etcdRecord reads the JSON record at key into v.
func etcdRecord(ctx context.Context, t *testing.T, etcd *clientv3.Client, key string, v any) {
	t.Helper()
	resp, err := etcd.Get(ctx, key)
	if err != nil {
		t.Fatalf("etcd %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("etcd %s: no such key", key)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		t.Fatalf("etcd %s: %v", key, err)
	}
}
