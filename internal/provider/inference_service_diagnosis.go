package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// Looking behind ModelMesh's status while a wait goes on: the runtime Pods behind RuntimeUnhealthy,
// and the causes of a status that never comes.

const (
	// stuckGrace is how long a Pod may stay stuck (image pull failing, crash loop, unschedulable,
	// missing configuration) before the wait ends: the kubelet and the scheduler retry these, and an
	// image pushed or a Secret created moments late cures them.
	stuckGrace = 30 * time.Second
	// noStatusGrace is how long the controller may take to write a status for an applied spec. It
	// writes one within seconds when it serves the namespace and can read the spec.
	noStatusGrace = 45 * time.Second
	// inspectInterval spaces the looks at Pods: their changes do not show on the watched object.
	inspectInterval = 5 * time.Second
	// retryGrace bounds the wait for ModelMesh's retry of a failed load in another Pod. It places
	// the retry as soon as it has recorded the failure, so a failure that lasts this long while
	// other Pods could load the model means no retry is coming.
	retryGrace = 30 * time.Second
	// typeConstraintsPropagation bounds the wait for ModelMesh to place a model whose runtime exists
	// but was named NoSupportingRuntime or RuntimeNotRecognized. A runtime's model types reach the
	// running model-mesh containers through a ConfigMap volume, which the kubelet refreshes at its
	// next sync of each Pod (syncFrequency, 1 minute by default); a model refused before that is
	// loaded by model-mesh's reaper, which runs every 7 minutes (REGISTRY_REAPER_FREQ_MINS,
	// ModelMesh.java v0.12.0); a minute is added for the controller and the load.
	typeConstraintsPropagation = 9 * time.Minute
	// maxLoadFailures is ModelMesh's MAX_LOAD_FAILURES: it places no further load of a model with
	// this many recent failures (ModelMesh.checkLoadFailureCount), for IN_USE_LOAD_FAILURE_EXPIRY_MS.
	maxLoadFailures = 3

	modelMeshEnabledLabel = "modelmesh-enabled"
)

// runtimeFailedError ends a wait that cannot succeed without a change outside the InferenceService.
type runtimeFailedError struct {
	summary, detail string
}

func (e *runtimeFailedError) Error() string { return e.summary + ": " + e.detail }

// runtimeInspector remembers, across looks, since when each problem has been seen.
type runtimeInspector struct {
	client  *kube.Client
	model   *inferenceServiceModel
	started time.Time
	// activeFailures is failedCopies before the apply: the failures of the model that serves while
	// a new one loads, which the controller adds to the new one's in failedCopies
	// (updatePredictorStatusFromVModel counts the copies of both).
	activeFailures int64

	// poked asks for a look now rather than at the next tick.
	poked chan struct{}

	mu        sync.Mutex
	firstSeen map[string]time.Time
	lastSeen  string // what the last look found, for a timeout's message
}

func newRuntimeInspector(client *kube.Client, m *inferenceServiceModel, before inferenceServiceStatus) *runtimeInspector {
	return &runtimeInspector{client: client, model: m, started: time.Now(), activeFailures: before.FailedCopies.ValueInt64(),
		firstSeen: map[string]time.Time{}, poked: make(chan struct{}, 1)}
}

// poke has the watch look at the newest object now; pokes before that look add nothing.
func (i *runtimeInspector) poke() {
	select {
	case i.poked <- struct{}{}:
	default:
	}
}

// lasting reports whether the problem named key has been seen for at least grace, counting from
// its first sighting in this wait.
func (i *runtimeInspector) lasting(key string, grace time.Duration, seenNow map[string]bool) bool {
	seenNow[key] = true
	first, ok := i.firstSeen[key]
	if !ok {
		first = time.Now()
		i.firstSeen[key] = first
	}
	return time.Since(first) >= grace
}

// look inspects what the status points at: with a current status saying a load failed, whether
// ModelMesh can retry it; with one saying the runtime is unhealthy, the runtime Pods; with no
// current status after noStatusGrace, the causes the controller would not say. It returns a
// loadFailedError or runtimeFailedError when the wait cannot succeed.
func (i *runtimeInspector) look(ctx context.Context, obj *unstructured.Unstructured, current bool) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	seenNow := map[string]bool{}
	defer func() {
		for key := range i.firstSeen {
			if !seenNow[key] {
				delete(i.firstSeen, key)
			}
		}
	}()
	noStatus := obj == nil || !current
	if noStatus && time.Since(i.started) < noStatusGrace {
		return nil
	}
	if noStatus {
		if err := i.lookAtNamespace(ctx); err != nil {
			return err
		}
	} else if s := statusOf(obj); copyFailed(s) {
		return i.lookAtRetries(ctx, s, seenNow)
	} else if placementFailed(s) {
		return i.lookAtPlacement(ctx, s, seenNow)
	} else if s.LastFailureReason.ValueString() != "RuntimeUnhealthy" && s.ActiveModelState.ValueString() != "Pending" {
		i.lastSeen = ""
		return nil
	}
	return i.lookAtRuntimes(ctx, noStatus, seenNow)
}

// lookAtNamespace finds a namespace the controller does not serve (controllers/util.go
// modelMeshEnabled): labelled other than modelmesh-enabled=true, terminating, or unlabelled (only
// the controller's own namespace is served without the label, and the controller has written
// nothing here).
func (i *runtimeInspector) lookAtNamespace(ctx context.Context) error {
	namespace := i.model.Namespace.ValueString()
	if reason := namespaceNotServed(ctx, i.client, namespace, true); reason != "" {
		return &runtimeFailedError{
			summary: fmt.Sprintf("ModelMesh does not serve namespace %q", namespace),
			detail:  fmt.Sprintf("The ModelMesh controller wrote no status for %s within %s: %s", i.model.ref(), noStatusGrace, reason),
		}
	}
	return nil
}

// lookAtRetries decides whether a failed load is ModelMesh's last word. ModelMesh records the
// failure, then retries the load in an instance where it has not failed
// (CacheEntry.failed → ensureLoadedInternalAsync with the failed instance excluded, ModelMesh.java
// v0.12.0), until maxLoadFailures recent failures; meanwhile the controller reports FailedToLoad
// with the failure's message. The failure is final once every ready Pod of the runtimes that may
// load the model has failed it, or the limit is reached, or no retry has shown within retryGrace.
func (i *runtimeInspector) lookAtRetries(ctx context.Context, s inferenceServiceStatus, seenNow map[string]bool) error {
	failed := s.FailedCopies.ValueInt64()
	if s.TargetModelState.ValueString() != "" {
		failed -= i.activeFailures
	}
	failed = max(failed, 1)
	pods, err := i.readyRuntimePods(ctx)
	podsKnown := err == nil
	switch {
	case podsKnown && failed >= pods:
		return &loadFailedError{status: s, retries: fmt.Sprintf("The load failed in %d of the %d ready runtime Pods that may "+
			"load the model; ModelMesh retries a failed load only in a Pod where it has not failed.\n\n", failed, pods)}
	case failed >= maxLoadFailures:
		return &loadFailedError{status: s, retries: fmt.Sprintf("The load failed in %d runtime Pods; ModelMesh stops "+
			"retrying a model after %d recent failures, until they expire (7.5 minutes).\n\n", failed, maxLoadFailures)}
	case i.lasting(fmt.Sprintf("retry/%d", failed), retryGrace, seenNow):
		others := "another runtime Pod"
		if podsKnown {
			others = fmt.Sprintf("another runtime Pod (%d of the %d ready Pods that may load the model have not failed it)", pods-failed, pods)
		}
		return &loadFailedError{status: s, retries: fmt.Sprintf("ModelMesh retries a failed load in %s, but started no retry "+
			"within %s.\n\n", others, retryGrace)}
	}
	i.lastSeen = fmt.Sprintf("- the load failed in %d runtime Pod(s); ModelMesh retries it in another", failed)
	return nil
}

// lookAtPlacement decides whether ModelMesh's "no runtime for this model" is final. It is when no
// runtime lists the model (or the named runtime does not exist, is disabled or not multi-model).
// When one does, ModelMesh has refused the model on type constraints that do not name it yet: a
// runtime added while other runtimes' Pods run reaches them only when the kubelet refreshes their
// type-constraints file, and the model is loaded at model-mesh's next reaper run
// (kserve/modelmesh-serving issue 352). That is waited out for typeConstraintsPropagation.
func (i *runtimeInspector) lookAtPlacement(ctx context.Context, s inferenceServiceStatus, seenNow map[string]bool) error {
	serving, err := i.servingRuntimes(ctx)
	switch {
	case err == nil && len(serving) == 0:
		return &loadFailedError{status: s}
	case i.lasting("placement", typeConstraintsPropagation, seenNow):
		return &loadFailedError{status: s, retries: fmt.Sprintf("ModelMesh still reports %s %s after %s although runtime(s) %s "+
			"list the model: ModelMesh does not see their model types.\n\n",
			s.LastFailureReason.ValueString(), i.model.ref(), typeConstraintsPropagation, strings.Join(serving, ", "))}
	}
	i.lastSeen = fmt.Sprintf("- runtime(s) %s list the model, but ModelMesh reports %s: their model types reach the running "+
		"ModelMesh Pods when the kubelet refreshes the type-constraints ConfigMap (about a minute), and ModelMesh loads the "+
		"model at its next reaper run (every 7 minutes); waited up to %s", strings.Join(serving, ", "),
		s.LastFailureReason.ValueString(), typeConstraintsPropagation)
	return nil
}

// servingRuntimes are the candidate runtimes ModelMesh can place the model in: a named runtime
// only when enabled and multi-model (otherwise it has no type constraints,
// ClusterConfig.addConstraints); runtimes that select the model by format are that already.
func (i *runtimeInspector) servingRuntimes(ctx context.Context) ([]string, error) {
	if i.model.Runtime.IsNull() {
		return i.candidateRuntimes(ctx)
	}
	rt, err := i.namedRuntime(ctx)
	if err != nil || rt == nil || !runtimeUsable(*rt) {
		return nil, err
	}
	return []string{rt.GetName()}, nil
}

// readyRuntimePods counts the ready Pods of the runtimes that may load the model: the model-mesh
// instances its type constraints let it load in.
func (i *runtimeInspector) readyRuntimePods(ctx context.Context) (int64, error) {
	candidates, err := i.candidateRuntimes(ctx)
	if err != nil {
		return 0, err
	}
	deployed, err := i.client.RuntimeDeployments(ctx, i.model.Namespace.ValueString())
	if err != nil {
		return 0, err
	}
	var ready int64
	for _, runtime := range candidates {
		if rd := deployed[runtime]; rd != nil {
			for podIndex := range rd.Pods {
				if kube.PodReady(&rd.Pods[podIndex]) {
					ready++
				}
			}
		}
	}
	return ready, nil
}

// namespaceNotServed says why the ModelMesh controller ignores a namespace, or "" when it may serve
// it. An unlabelled namespace counts only when unlabelledCounts: it may be the controller's own.
// A namespace the provider may not read is taken as served.
func namespaceNotServed(ctx context.Context, client *kube.Client, namespace string, unlabelledCounts bool) string {
	ns, err := client.Namespace(ctx, namespace)
	if err != nil {
		return ""
	}
	fix := fmt.Sprintf("Label it (kubectl label namespace %s %s=true --overwrite), or deploy the model into a namespace "+
		"ModelMesh serves.", namespace, modelMeshEnabledLabel)
	value, labelled := ns.Labels[modelMeshEnabledLabel]
	switch {
	case ns.Status.Phase == corev1.NamespaceTerminating:
		return fmt.Sprintf("namespace %q is being deleted.", namespace)
	case labelled && value != "true":
		return fmt.Sprintf("namespace %q is labelled %s=%q, and ModelMesh only serves namespaces labelled %s=true. %s",
			namespace, modelMeshEnabledLabel, value, modelMeshEnabledLabel, fix)
	case !labelled && unlabelledCounts:
		return fmt.Sprintf("namespace %q lacks the label %s=true, which ModelMesh needs on every namespace but its own. %s",
			namespace, modelMeshEnabledLabel, fix)
	}
	return ""
}

// lookAtRuntimes checks the runtimes that may serve the model. The wait fails when none of them
// can run: each lacks a Deployment, or each has Pods and all of them have been stuck for
// stuckGrace. A runtime scaled to zero is waited for: the controller scales it up for the model.
func (i *runtimeInspector) lookAtRuntimes(ctx context.Context, noStatus bool, seenNow map[string]bool) error {
	namespace := i.model.Namespace.ValueString()
	candidates, err := i.candidateRuntimes(ctx)
	if err != nil {
		return nil //nolint:nilerr // a look that cannot be taken leaves the wait to its timeout
	}
	if len(candidates) == 0 {
		// ModelMesh says NoSupportingRuntime or RuntimeNotRecognized only while some runtime Pod
		// runs in the namespace; with every runtime scaled to zero it waits for a Pod forever.
		if !noStatus && i.lasting("no-runtime", noStatusGrace, seenNow) {
			return &runtimeFailedError{
				summary: fmt.Sprintf("No runtime can serve %s", i.model.ref()),
				detail: fmt.Sprintf("ModelMesh reports RuntimeUnhealthy, waiting for a runtime Pod, but none can come: %s",
					loadFailureHint(i.model, inferenceServiceStatus{LastFailureReason: types.StringValue("NoSupportingRuntime")})),
			}
		}
		return nil
	}
	deployed, err := i.client.RuntimeDeployments(ctx, namespace)
	if err != nil {
		return nil //nolint:nilerr // as above
	}
	var seen, blocking []string
	var stuckPods []kube.PodProblem
	for _, runtime := range candidates {
		rd := deployed[runtime]
		switch {
		case rd == nil:
			line := fmt.Sprintf("runtime %q: no Deployment in namespace %q", runtime, namespace)
			seen = append(seen, line)
			if i.lasting("undeployed/"+runtime, noStatusGrace, seenNow) {
				blocking = append(blocking, line+": the ModelMesh controller does not deploy it. It refuses runtimes that are "+
					"disabled, not multi-model, or whose built-in adapter has no container named after its server type "+
					"or a container with a readiness probe; its log says which (kubectl logs -n <controller namespace> "+
					"-l control-plane=modelmesh-controller).")
			}
			continue
		case len(rd.Pods) == 0:
			seen = append(seen, fmt.Sprintf("runtime %q: Deployment %s has no Pods yet", runtime, rd.Deployment.Name))
			continue
		}
		allStuck := true
		var runtimeStuck []kube.PodProblem
		for podIndex := range rd.Pods {
			pod := &rd.Pods[podIndex]
			problems := kube.Problems(pod)
			if len(problems) == 0 {
				if setup, err := i.client.SetupProblem(ctx, pod); err == nil && setup != nil {
					problems = []kube.PodProblem{*setup}
				}
			}
			if len(problems) == 0 {
				allStuck = false
				seen = append(seen, fmt.Sprintf("runtime %q: pod %s %s", runtime, pod.Name, podSummary(pod)))
				continue
			}
			for _, p := range problems {
				seen = append(seen, fmt.Sprintf("runtime %q: %s", runtime, p))
				if !i.lasting("pod/"+p.Pod+"/"+p.Container+"/"+p.Reason, stuckGrace, seenNow) {
					allStuck = false
				}
			}
			runtimeStuck = append(runtimeStuck, problems[0])
		}
		if !allStuck {
			continue
		}
		stuckPods = append(stuckPods, runtimeStuck...)
		blocking = append(blocking, fmt.Sprintf("runtime %q: every Pod of Deployment %s is stuck", runtime, rd.Deployment.Name))
	}
	i.lastSeen = ""
	for _, line := range seen {
		i.lastSeen += "- " + line + "\n"
	}
	i.lastSeen = strings.TrimSuffix(i.lastSeen, "\n")
	if len(blocking) < len(candidates) {
		return nil
	}
	return i.runtimeFailure(ctx, noStatus, blocking, stuckPods)
}

func podSummary(pod *corev1.Pod) string {
	if kube.PodReady(pod) {
		return fmt.Sprintf("%s, Ready", pod.Status.Phase)
	}
	return fmt.Sprintf("%s, not Ready", pod.Status.Phase)
}

// runtimeFailure explains a wait that no runtime can end, naming each stuck Pod with its newest
// warning event and the command that shows its logs.
func (i *runtimeInspector) runtimeFailure(ctx context.Context, noStatus bool, blocking []string, stuck []kube.PodProblem) error {
	namespace := i.model.Namespace.ValueString()
	var b strings.Builder
	if noStatus {
		fmt.Fprintf(&b, "The ModelMesh controller wrote no status for the applied spec within %s, and no runtime that may serve it can run:\n", noStatusGrace)
	} else {
		b.WriteString("ModelMesh reports RuntimeUnhealthy, and no runtime that may serve the model can run:\n")
	}
	for _, line := range blocking {
		b.WriteString("- " + line + "\n")
	}
	for _, p := range stuck {
		fmt.Fprintf(&b, "\n%s.", p)
		if warning, err := i.client.LastWarning(ctx, namespace, p.Pod); err == nil && warning != "" && !strings.Contains(p.Message, warning) {
			fmt.Fprintf(&b, "\nNewest warning event: %s", warning)
		}
		fmt.Fprintf(&b, "\n%s\n", podFixHint(namespace, p))
	}
	return &runtimeFailedError{summary: fmt.Sprintf("The runtime of %s cannot run", i.model.ref()), detail: strings.TrimRight(b.String(), "\n")}
}

func podFixHint(namespace string, p kube.PodProblem) string {
	describe := fmt.Sprintf("kubectl describe pod -n %s %s", namespace, p.Pod)
	switch p.Reason {
	case "CrashLoopBackOff", "RunContainerError":
		return fmt.Sprintf("Its logs say why: kubectl logs -n %s %s -c %s --previous", namespace, p.Pod, p.Container)
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
		return fmt.Sprintf("Check the runtime's image name and tag, and image_pull_secrets for a private registry; details: %s "+
			"(kubectl logs -n %s %s -c %s once it runs)", describe, namespace, p.Pod, p.Container)
	case "CreateContainerConfigError", "CreateContainerError":
		return "A Secret or ConfigMap the container uses is likely missing; details: " + describe
	case "FailedMount", "FailedAttachVolume":
		// Every ModelMesh runtime Pod mounts the namespace's storage-config Secret
		// (modelmesh-serving controllers/modelmesh/runtime.go), with or without models in storage.
		if strings.Contains(p.Message, `secret "storage-config" not found`) {
			return fmt.Sprintf("Namespace %q has no storage-config Secret, which every ModelMesh runtime Pod mounts: declare an "+
				"asm_model_storage in it (its Pods start once the Secret exists); details: %s", namespace, describe)
		}
		return "A volume of the Pod cannot be mounted: check that the Secret, ConfigMap or volume it names exists; details: " + describe
	case "FailedCreatePodSandBox":
		return "The node's container runtime cannot create the Pod's sandbox (its network or the runtime itself); details: " + describe
	}
	return "Check the runtime's node_selector, tolerations, affinity and resource requests against the cluster's nodes; details: " + describe
}

// candidateRuntimes are the runtimes ModelMesh may place the model on: the named one if it exists,
// or else those listing its format with autoSelect, and its protocol_version when set: the type
// labels the controller gives runtimes and asks of models (controllers/modelmesh/model_type_labels.go;
// only enabled multi-model runtimes are deployed).
func (i *runtimeInspector) candidateRuntimes(ctx context.Context) ([]string, error) {
	namespace := i.model.Namespace.ValueString()
	if !i.model.Runtime.IsNull() {
		rt, err := i.namedRuntime(ctx)
		if err != nil || rt == nil {
			return nil, err
		}
		return []string{rt.GetName()}, nil
	}
	format := objectString(i.model.ModelFormat, "name").ValueString()
	version := objectString(i.model.ModelFormat, "version")
	protocol := i.model.ProtocolVersion
	var out []string
	for _, kind := range []kube.Kind{kube.ServingRuntime, kube.ClusterServingRuntime} {
		runtimes, err := i.client.List(ctx, kind, namespace, "")
		if err != nil {
			return nil, err
		}
		for _, rt := range runtimes {
			if runtimeAutoSelects(rt, format, version) && runtimeServesProtocol(rt, protocol) && !slices.Contains(out, rt.GetName()) {
				out = append(out, rt.GetName())
			}
		}
	}
	return out, nil
}

// runtimeUsable reports a runtime ModelMesh deploys and places models in: enabled, multi-model.
func runtimeUsable(rt unstructured.Unstructured) bool {
	disabled, _, _ := unstructured.NestedBool(rt.Object, "spec", "disabled")
	multi, _, _ := unstructured.NestedBool(rt.Object, "spec", "multiModel")
	return !disabled && multi
}

// namedRuntime reads the model's runtime as ModelMesh looks it up: a ServingRuntime of the
// model's namespace, else a ClusterServingRuntime; nil when neither exists.
func (i *runtimeInspector) namedRuntime(ctx context.Context) (*unstructured.Unstructured, error) {
	for _, kind := range []kube.Kind{kube.ServingRuntime, kube.ClusterServingRuntime} {
		rt, err := i.client.Get(ctx, kube.Ref{Kind: kind, Namespace: i.model.Namespace.ValueString(), Name: i.model.Runtime.ValueString()})
		if err == nil {
			return rt, nil
		}
		if !kube.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, nil
}

func runtimeAutoSelects(rt unstructured.Unstructured, format string, version types.String) bool {
	if !runtimeUsable(rt) {
		return false
	}
	formats, _, _ := unstructured.NestedSlice(rt.Object, "spec", "supportedModelFormats")
	for _, f := range formats {
		f, ok := f.(map[string]any)
		if !ok || f["name"] != format || f["autoSelect"] != true {
			continue
		}
		if version.IsNull() || f["version"] == version.ValueString() {
			return true
		}
	}
	return false
}

// runtimeServesProtocol reports whether a runtime lists the protocol (any when null). A grpc-v2
// runtime also serves v2 through the REST proxy, which ModelMesh enables by default; where it is
// disabled, such a runtime is counted although it cannot serve, which leaves the wait to its timeout.
func runtimeServesProtocol(rt unstructured.Unstructured, protocol types.String) bool {
	if protocol.IsNull() || protocol.IsUnknown() {
		return true
	}
	versions, _, _ := unstructured.NestedStringSlice(rt.Object, "spec", "protocolVersions")
	return slices.Contains(versions, protocol.ValueString()) ||
		(protocol.ValueString() == "v2" && slices.Contains(versions, "grpc-v2"))
}

// seen is what the last look found, for a timeout's message.
func (i *runtimeInspector) seen() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.lastSeen
}

// watch looks every inspectInterval, and when poked, at the newest object the wait saw, until ctx
// ends, and cancels the wait with the failure it finds.
func (i *runtimeInspector) watch(ctx context.Context, stop context.CancelCauseFunc, latest func() (*unstructured.Unstructured, bool)) {
	ticker := time.NewTicker(inspectInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-i.poked:
		}
		obj, current := latest()
		if err := i.look(ctx, obj, current); err != nil {
			stop(err)
			return
		}
	}
}
