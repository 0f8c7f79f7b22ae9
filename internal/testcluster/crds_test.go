package testcluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// Samples written for these tests after the upstream ModelMesh examples.
const (
	mlserverClusterRuntime = `
apiVersion: serving.kserve.io/v1alpha1
kind: ClusterServingRuntime
metadata:
  name: mlserver-1.x
  labels:
    name: modelmesh-serving-mlserver-1.x-SR
spec:
  supportedModelFormats:
    - {name: sklearn, version: "0", autoSelect: true}
    - {name: xgboost, version: "1", autoSelect: true}
    - {name: lightgbm, version: "3", autoSelect: true}
  protocolVersions: [grpc-v2]
  multiModel: true
  grpcEndpoint: "port:8085"
  grpcDataEndpoint: "port:8001"
  containers:
    - name: mlserver
      image: mlserver-1:replace
      env:
        - {name: MLSERVER_MODELS_DIR, value: /models/_mlserver_models/}
        - {name: MLSERVER_GRPC_PORT, value: "8001"}
        - {name: MLSERVER_HTTP_PORT, value: "8002"}
        - {name: MLSERVER_LOAD_MODELS_AT_STARTUP, value: "false"}
        - {name: MLSERVER_MODEL_NAME, value: dummy-model-fixme}
        - {name: MLSERVER_HOST, value: 127.0.0.1}
        - {name: MLSERVER_GRPC_MAX_MESSAGE_LENGTH, value: "-1"}
      resources:
        requests: {cpu: 500m, memory: 1Gi}
        limits: {cpu: "5", memory: 1Gi}
  builtInAdapter:
    serverType: mlserver
    runtimeManagementPort: 8001
    memBufferBytes: 134217728
    modelLoadingTimeoutMillis: 90000
`
	// A namespaced runtime touching every field kind the provider manages.
	tritonRuntime = `
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: triton-2.x
spec:
  supportedModelFormats:
    - {name: keras, version: "2", autoSelect: true}
    - {name: onnx, version: "1", autoSelect: true, priority: 2}
  protocolVersions: [grpc-v2]
  multiModel: true
  disabled: false
  replicas: 2
  grpcEndpoint: "port:8085"
  grpcDataEndpoint: "port:8001"
  httpDataEndpoint: "port:8002"
  storageHelper: {disabled: false}
  nodeSelector: {kubernetes.io/arch: amd64}
  labels: {team: ml}
  annotations: {note: sample}
  imagePullSecrets: [{name: registry}]
  tolerations:
    - {key: gpu, operator: Exists, effect: NoSchedule, tolerationSeconds: 30}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions: [{key: zone, operator: In, values: [a]}]
  volumes:
    - {name: shm, emptyDir: {medium: Memory, sizeLimit: 1Gi}}
    - name: config
      configMap: {name: triton-config}
  containers:
    - name: triton
      image: nvcr.io/nvidia/tritonserver:23.04-py3
      imagePullPolicy: IfNotPresent
      command: [/bin/sh]
      args: [-c, exec tritonserver --model-control-mode=explicit]
      workingDir: /models
      env:
        - {name: A, value: b}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
      envFrom: [{secretRef: {name: extra}}]
      ports: [{containerPort: 8001, name: grpc, protocol: TCP}]
      resources:
        requests: {cpu: 500m, memory: 1Gi}
        limits: {cpu: 5, memory: 1Gi, nvidia.com/gpu: 1}
      volumeMounts: [{name: shm, mountPath: /dev/shm}]
      livenessProbe:
        exec: {command: [curl, localhost:8000/v2/health/live]}
        initialDelaySeconds: 5
      securityContext: {runAsNonRoot: true, capabilities: {drop: [ALL]}}
  builtInAdapter:
    serverType: triton
    runtimeManagementPort: 8001
    memBufferBytes: 134217728
    modelLoadingTimeoutMillis: 90000
    env: [{name: CONTAINER_MEM_REQ_BYTES, value: "1073741824"}]
`
	modelMeshInferenceService = `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: example-sklearn-isvc
  annotations:
    serving.kserve.io/deploymentMode: ModelMesh
spec:
  predictor:
    model:
      modelFormat: {name: sklearn, version: "0"}
      runtime: mlserver-1.x
      storage:
        key: localMinIO
        path: sklearn/mnist-svm.joblib
        schemaPath: schemas/mnist.json
        parameters: {bucket: modelmesh-example-models}
`
	storageURIInferenceService = `
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: example-tensorflow-isvc
  annotations:
    serving.kserve.io/deploymentMode: ModelMesh
    serving.kserve.io/secretKey: my_storage
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 3
    scaleMetric: concurrency
    serviceAccountName: models
    model:
      modelFormat: {name: tensorflow}
      storageUri: s3://my_bucket/my_models/mnist-tf
      resources:
        requests: {cpu: 100m}
`
)

type fixtureCase struct {
	name     string
	manifest string
	// edit changes the decoded sample before it is sent.
	edit func(obj map[string]any)
	// wantError is a substring of the API server's validation error; empty means accepted.
	wantError string
}

func set(value any, path ...string) func(map[string]any) {
	return func(obj map[string]any) {
		if err := unstructured.SetNestedField(obj, value, path...); err != nil {
			panic(err)
		}
	}
}

func remove(path ...string) func(map[string]any) {
	return func(obj map[string]any) { unstructured.RemoveNestedField(obj, path...) }
}

// editFirst applies edit to the first item of the list at path.
func editFirst(edit func(map[string]any), path ...string) func(map[string]any) {
	return func(obj map[string]any) {
		items, _, _ := unstructured.NestedSlice(obj, path...)
		item, ok := items[0].(map[string]any)
		if !ok {
			panic(fmt.Sprintf("%s[0] is %T, want an object", strings.Join(path, "."), items[0]))
		}
		edit(item)
		if err := unstructured.SetNestedSlice(obj, items, path...); err != nil {
			panic(err)
		}
	}
}

// fixtureCases are the samples upstream accepts and the mistakes upstream rejects.
func fixtureCases() []fixtureCase {
	formats := []string{"spec", "supportedModelFormats"}
	containers := []string{"spec", "containers"}
	model := []string{"spec", "predictor", "model"}
	return []fixtureCase{
		{name: "mlserver ClusterServingRuntime", manifest: mlserverClusterRuntime},
		{name: "triton ServingRuntime", manifest: tritonRuntime},
		{name: "ModelMesh InferenceService with storage", manifest: modelMeshInferenceService},
		{name: "ModelMesh InferenceService with storageUri", manifest: storageURIInferenceService},

		{name: "runtime format without name", manifest: tritonRuntime, edit: editFirst(remove("name"), formats...),
			wantError: "spec.supportedModelFormats[0].name: Required value"},
		{name: "cluster runtime format without name", manifest: mlserverClusterRuntime, edit: editFirst(remove("name"), formats...),
			wantError: "spec.supportedModelFormats[0].name: Required value"},
		{name: "multiModel as a string", manifest: tritonRuntime, edit: set("yes", "spec", "multiModel"),
			wantError: "spec.multiModel: Invalid value"},
		{name: "cluster runtime multiModel as a string", manifest: mlserverClusterRuntime, edit: set("yes", "spec", "multiModel"),
			wantError: "spec.multiModel: Invalid value"},
		{name: "replicas as a string", manifest: tritonRuntime, edit: set("x", "spec", "replicas"),
			wantError: "spec.replicas: Invalid value"},
		{name: "format priority 0", manifest: tritonRuntime, edit: editFirst(set(int64(0), "priority"), formats...),
			wantError: "spec.supportedModelFormats[0].priority: Invalid value"},
		{name: "autoSelect as a string", manifest: tritonRuntime, edit: editFirst(set("true", "autoSelect"), formats...),
			wantError: "spec.supportedModelFormats[0].autoSelect: Invalid value"},
		{name: "runtime without containers", manifest: tritonRuntime, edit: remove(containers...),
			wantError: "spec.containers: Required value"},
		{name: "container without name", manifest: tritonRuntime, edit: editFirst(remove("name"), containers...),
			wantError: "spec.containers[0].name: Required value"},
		{name: "container env without name", manifest: tritonRuntime, edit: editFirst(set([]any{map[string]any{"value": "x"}}, "env"), containers...),
			wantError: "spec.containers[0].env[0].name: Required value"},
		{name: "container memory limit not a quantity", manifest: tritonRuntime, edit: editFirst(set("lots", "resources", "limits", "memory"), containers...),
			wantError: "spec.containers[0].resources.limits.memory: Invalid value"},
		{name: "runtimeManagementPort as a string", manifest: tritonRuntime, edit: set("8001", "spec", "builtInAdapter", "runtimeManagementPort"),
			wantError: "spec.builtInAdapter.runtimeManagementPort: Invalid value"},
		{name: "memBufferBytes as a string", manifest: mlserverClusterRuntime, edit: set("big", "spec", "builtInAdapter", "memBufferBytes"),
			wantError: "spec.builtInAdapter.memBufferBytes: Invalid value"},
		{name: "grpcEndpoint as a number", manifest: tritonRuntime, edit: set(int64(8085), "spec", "grpcEndpoint"),
			wantError: "spec.grpcEndpoint: Invalid value"},

		{name: "InferenceService without predictor", manifest: modelMeshInferenceService, edit: remove("spec", "predictor"),
			wantError: "spec.predictor: Required value"},
		{name: "modelFormat without name", manifest: modelMeshInferenceService, edit: remove(append(model, "modelFormat", "name")...),
			wantError: "spec.predictor.model.modelFormat.name: Required value"},
		{name: "storage path as a number", manifest: modelMeshInferenceService, edit: set(int64(5), append(model, "storage", "path")...),
			wantError: "spec.predictor.model.storage.path: Invalid value"},
		{name: "runtime as a number", manifest: modelMeshInferenceService, edit: set(int64(1), append(model, "runtime")...),
			wantError: "spec.predictor.model.runtime: Invalid value"},
		{name: "storage parameter as a number", manifest: modelMeshInferenceService, edit: set(int64(1), append(model, "storage", "parameters", "bucket")...),
			wantError: "spec.predictor.model.storage.parameters.bucket: Invalid value"},
		{name: "minReplicas as a string", manifest: storageURIInferenceService, edit: set("x", "spec", "predictor", "minReplicas"),
			wantError: "spec.predictor.minReplicas: Invalid value"},
		{name: "unknown scaleMetric", manifest: storageURIInferenceService, edit: set("gpu", "spec", "predictor", "scaleMetric"),
			wantError: "spec.predictor.scaleMetric: Unsupported value"},
	}
}

// resourceFor maps a sample's kind to its resource, and the namespace it is created in.
func resourceFor(obj *unstructured.Unstructured) (schema.GroupVersionResource, string) {
	switch obj.GetKind() {
	case "ClusterServingRuntime":
		return clusterServingRuntimesResource, ""
	case "ServingRuntime":
		return servingRuntimesResource, "default"
	default:
		return inferenceServicesResource, "default"
	}
}

func decode(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatal(err)
	}
	return obj
}

// checkFixtureCases creates every case with a dry run: validated, defaulted and pruned as if stored.
func checkFixtureCases(t *testing.T, cfg *rest.Config) {
	client := dynamic.NewForConfigOrDie(cfg)
	for _, tc := range fixtureCases() {
		t.Run(tc.name, func(t *testing.T) {
			obj := decode(t, tc.manifest)
			if tc.edit != nil {
				tc.edit(obj.Object)
			}
			gvr, namespace := resourceFor(obj)
			created, err := client.Resource(gvr).Namespace(namespace).Create(t.Context(), obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			switch {
			case tc.wantError == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.wantError == "":
				// Every field of the sample is in the schema: nothing pruned, nothing changed.
				if !reflect.DeepEqual(created.Object["spec"], normalized(t, obj.Object["spec"])) {
					got, _ := json.Marshal(created.Object["spec"])
					t.Errorf("spec changed by the API server:\n got %s\nsent %s", got, mustJSON(obj.Object["spec"]))
				}
			case err == nil:
				t.Fatalf("accepted, want an error containing %q", tc.wantError)
			case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.wantError):
				t.Fatalf("error = %v, want an Invalid error containing %q", err, tc.wantError)
			}
		})
	}
}

func TestCRDsValidate(t *testing.T) {
	checkFixtureCases(t, local.Cluster.RESTConfig())
}

func mustJSON(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// normalized round-trips v through JSON so its numbers compare like the API server's (int64).
func normalized(t *testing.T, v any) any {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON([]byte(`{"apiVersion":"v1","kind":"X","v":` + mustJSON(v) + `}`)); err != nil {
		t.Fatal(err)
	}
	return obj.Object["v"]
}

func TestCRDsPruneUnknownSpecFields(t *testing.T) {
	cfg := local.Cluster.RESTConfig()
	cfg.WarningHandler = rest.NoWarnings{} // the unknown-field warnings are expected
	client := dynamic.NewForConfigOrDie(cfg)
	obj := decode(t, modelMeshInferenceService)
	set("typo", "spec", "predictor", "model", "storage", "pth")(obj.Object)
	set("x", "spec", "unknown")(obj.Object)
	created, err := client.Resource(inferenceServicesResource).Namespace("default").Create(t.Context(), obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range [][]string{{"spec", "predictor", "model", "storage", "pth"}, {"spec", "unknown"}} {
		if _, found, _ := unstructured.NestedFieldNoCopy(created.Object, path...); found {
			t.Errorf("%s kept, want it pruned as upstream does", strings.Join(path, "."))
		}
	}
}

func TestInferenceServiceStatusSubresource(t *testing.T) {
	ctx := t.Context()
	client := dynamic.NewForConfigOrDie(local.Cluster.RESTConfig()).Resource(inferenceServicesResource).Namespace("default")
	obj := decode(t, storageURIInferenceService)
	obj.SetName("status-subresource")
	obj.SetAnnotations(nil) // not ModelMesh: the controller leaves it alone
	obj.Object["status"] = map[string]any{"url": "ignored-on-create"}
	created, err := client.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(created.Object, "status", "url"); found {
		t.Error("status written through the main resource, want it ignored (status subresource)")
	}

	created.Object["status"] = map[string]any{
		"modelStatus": map[string]any{"states": map[string]any{}, "copies": map[string]any{"totalCopies": int64(1)}},
	}
	updated, err := client.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantDefaults := map[string]any{
		"transitionStatus": "UpToDate",
		"states":           map[string]any{"activeModelState": "Pending", "targetModelState": ""},
		"copies":           map[string]any{"failedCopies": int64(0), "totalCopies": int64(1)},
	}
	if got, _, _ := unstructured.NestedFieldNoCopy(updated.Object, "status", "modelStatus"); !reflect.DeepEqual(got, wantDefaults) {
		t.Errorf("status.modelStatus = %v, want upstream defaults %v", got, wantDefaults)
	}

	for field, value := range map[string]string{"states.activeModelState": "Bogus", "lastFailureInfo.reason": "Bogus", "transitionStatus": "Bogus"} {
		bad := updated.DeepCopy()
		set(value, append([]string{"status", "modelStatus"}, strings.Split(field, ".")...)...)(bad.Object)
		if _, err := client.UpdateStatus(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("status.modelStatus.%s = %q: error = %v, want Invalid (enum)", field, value, err)
		}
	}
}

func TestCRDsPrinterColumnsAndNames(t *testing.T) {
	cfg := local.Cluster.RESTConfig()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices": {"Name", "URL", "Ready", "Prev", "Latest", "PrevRolledoutRevision", "LatestReadyRevision", "Age"},
		"/apis/serving.kserve.io/v1alpha1/namespaces/default/servingruntimes":  {"Name", "Disabled", "ModelType", "Containers", "Age"},
		"/apis/serving.kserve.io/v1alpha1/clusterservingruntimes":              {"Name", "Disabled", "ModelType", "Containers", "Age"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var table metav1.Table
		err = json.NewDecoder(resp.Body).Decode(&table)
		_ = resp.Body.Close() // the body is read in full; a close error cannot change the result
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s as Table: %s, %v", path, resp.Status, err)
		}
		var got []string
		for _, column := range table.ColumnDefinitions {
			got = append(got, column.Name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s columns = %v, want %v", path, got, want)
		}
	}

	resources, err := discovery.NewDiscoveryClientForConfigOrDie(cfg).ServerResourcesForGroupVersion("serving.kserve.io/v1beta1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range resources.APIResources {
		if r.Name == "inferenceservices" {
			found = true
			if !reflect.DeepEqual(r.ShortNames, []string{"isvc"}) {
				t.Errorf("inferenceservices short names = %v, want [isvc]", r.ShortNames)
			}
		}
	}
	if !found {
		t.Error("inferenceservices not served in serving.kserve.io/v1beta1")
	}
}
