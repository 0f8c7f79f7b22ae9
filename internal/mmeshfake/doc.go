// Package mmeshfake is model-mesh's external gRPC API and etcd registry, served at each ready
// runtime pod of the test cluster.
//
// The modelmesh-serving controller (kserve/modelmesh-serving v0.12.0) runs for real in the test
// stack; model-mesh itself, the Java container "mm" in each runtime pod, cannot. This package
// stands in for it at its own boundary:
//
//   - For every Ready pod with a container "mm" carrying MM_SERVICE_NAME and MM_SVC_GRPC_PORT (the
//     pods of the Deployments the controller makes per ServingRuntime) and a pod IP, it serves
//     mmesh.ModelMesh (generated from proto/mmesh/model-mesh-external.proto) on
//     podIP:MM_SVC_GRPC_PORT, which is where the controller's kube:// resolver dials through the
//     Service's Endpoints. It stops serving when the pod goes away or turns unready.
//   - The pods of one namespace and service name form one model-mesh cluster with one registry:
//     model and vmodel records in etcd under <root_prefix>/<MM_KVSTORE_PREFIX>/<service>/registry/
//     and .../vmodels/, the root prefix taken from the pod's etcd secret (key etcd_connection),
//     in the JSON model-mesh writes and modelmesh_events.go watches. State lives only there, so it
//     survives restarts of the controller and of this package.
//   - Placement follows the type constraints of the ConfigMap the controller mounts (tc-config)
//     and each instance's MM_LABELS. Loads take Options.LoadDelay (SlowLoadDelay for paths with
//     SlowPathMarker; a path segment load-<Go duration>/ sets its own), and fail: with the storage
//     puller's error when the model's storage key is not in the storage-config Secret the pod
//     mounts; at the loading timeout the adapter reports (LOADTIME_TIMEOUT) when they take longer;
//     with the puller's error for paths with FailPathMarker (FailOncePathMarker: in the first pod
//     only). A failure is recorded first and retried in another pod Options.RetryDelay later.
//     Each instance runs as many loads at once as its runtime's loading concurrency
//     (LOADING_CONCURRENCY of its adapter, default 1) and queues the rest (loadqueue.go).
//
// Process mode (process.go, forward.go, runtimeload.go; the command cmd/model-mesh) runs one
// instance per process as the mm container of a runtime Pod: configured from that container's
// environment and mounts, it loads through the runtime adapter's ModelRuntime API, registers in
// the instances table and forwards inference to the runtime's data endpoint (RunInstance). The
// registry and external API code is the same in both modes. The processes of one cluster
// coordinate through etcd (coordinate.go): each watches the instances table, so its reaper counts
// the other instances as present, and only the elected leader runs the reaper. Placement and
// status stay local: a process loads only on its own instance and does not forward loads, status
// or inference for copies that other instances hold.
//
// Each imitated behaviour names its model-mesh source in a comment. Not imitated: inference
// requests (in-process mode), placement on and forwarding to other processes' instances, expiry of load failures, memory limits and
// eviction, scale-up to more copies, TLS; a pod whose storage-config Secret is missing runs (the
// kubelet would not start it) and fails every load with a storage key; a runtime without a
// loading timeout runs without one (model-mesh refuses to start below 100 ms).
//
// API: Start(ctx, Options) (*Server, error) and (*Server).Stop(), as agreed for issue 13; Stop may
// be called more than once.
//
// Wiring: a pod is served when it is Ready, has a pod IP this machine can bind (see
// internal/podnet), a container "mm" whose
// env sets MM_SERVICE_NAME and MM_SVC_GRPC_PORT (8033 by default), a Secret volume "etcd-config"
// naming an existing Secret with key etcd_connection (JSON; root_prefix is used), and a ConfigMap
// volume "tc-config" naming an existing ConfigMap (key type_constraints). Its instance id, the
// "location" of its copies, is the last 12 characters of the pod name; when its mm container
// restarts (containerStatuses[mm].state.running.startedAt changes) the copies it held are gone.
package mmeshfake
