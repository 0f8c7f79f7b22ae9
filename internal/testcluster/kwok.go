package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/podnet"
)

// Container images that make KWOK play a fault instead of a healthy container. Use them as the
// image of a ServingRuntime's container: the runtime's pods then behave so.
const (
	// ImageNeverPulls keeps a pod Pending with the container waiting in ImagePullBackOff, never
	// ready, as the kubelet shows an image that cannot be pulled.
	ImageNeverPulls = "registry.invalid/testcluster/never-pulls:v1"
	// ImageCrashLoops lets a pod start and turn ready, then its container crashes, waits in
	// CrashLoopBackOff (pod not ready) and is restarted, again and again.
	ImageCrashLoops = "registry.invalid/testcluster/crash-loops:v1"
	// ImageFailsAtStart runs a container that exits with code 1 before it is ever ready, as a server
	// that cannot import its model class does: the pod runs but never turns ready, and the container
	// waits in CrashLoopBackOff between restarts.
	ImageFailsAtStart = "registry.invalid/testcluster/fails-at-start:v1"
)

// fakeNodes is how many fake Nodes the cluster has; a runtime's two pods (podsPerRuntime) can land
// on different Nodes, as the scheduler spreads them.
const fakeNodes = 2

// kwokStages are the stage files of KWOK's module (copied by tools/modelmesh/build.sh) that make a
// Node and its Pods behave as with a kubelet: the Node turns Ready, a scheduled Pod runs and turns
// Ready with an IP from its Node's pod CIDR, a finished Pod completes, a deleted Pod goes away.
// https://kwok.sigs.k8s.io/docs/user/configuration/#stage (kustomize/stage/{node,pod}/fast).
var kwokStages = []string{
	"node/fast/node-initialize.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// faultStages make KWOK play the images above. A weight above 0 wins over the weightless upstream
// stages when both match (KWOK picks among matching stages by weight, and drops those of weight 0
// when any has more: pkg/utils/lifecycle/lifecycle.go). Times come from the Pod, not from Now, so
// that a stage that matches again writes the same status and so stops.
//
// The statuses are the kubelet's:
//   - ImagePullBackOff: the pod stays Pending with its IP (the sandbox exists before the pull), the
//     container waits with reason ImagePullBackOff and message `Back-off pulling image "<image>"`
//     (kubernetes pkg/kubelet/images/image_manager.go), the pod is not Ready (ContainersNotReady).
//   - CrashLoopBackOff: the phase stays Running (restartPolicy Always); the container's last state is
//     terminated with exit code 1, it waits with reason CrashLoopBackOff and the message
//     "back-off 10s restarting failed container=<name> pod=<pod>_<namespace>(<uid>)"
//     (pkg/kubelet/kuberuntime/kuberuntime_manager.go), restartCount grows, Ready is False until the
//     container runs again.
//   - A container that fails at start: as CrashLoopBackOff, but the pod is never Ready; its other
//     containers run. The status is written once, so restartCount stays at 1 where the kubelet's
//     would grow.
var faultStages = strings.Join([]string{
	scheduledPodStage("testcluster-image-pull-backoff", ImageNeverPulls, imagePullBackOffStatus),
	fmt.Sprintf(crashLoopStages, ImageCrashLoops),
	scheduledPodStage("testcluster-fails-at-start", ImageFailsAtStart, failsAtStartStatus),
}, "\n---\n")

// scheduledPodStage takes a scheduled, Pending Pod with a container of image and writes status (a
// template in which %[1]q is the image) and the Pod's addresses, which the kubelet reports once
// the Pod's sandbox exists.
func scheduledPodStage(name, image, status string) string {
	return fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: %[2]s
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: [Pending]}
    - {key: '.spec.nodeName', operator: Exists}
    - {key: '.spec.containers.[].image', operator: In, values: [%[1]q]}
  weight: 10000
  next:
    statusTemplate: |
`+status+`      {{ with NodeIPsWith .spec.nodeName }}
      hostIP: {{ index . 0 | Quote }}
      {{ end }}
      {{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
`, image, name)
}

const imagePullBackOffStatus = `      {{ $since := .metadata.creationTimestamp }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $since | Quote }}}
      - {type: Ready, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $since | Quote }}, message: "containers with unready status: [{{ range .spec.containers }}{{ if eq .image %[1]q }}{{ .name }}{{ end }}{{ end }}]"}
      - {type: ContainersReady, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $since | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        restartCount: 0
        {{ if eq .image %[1]q }}
        ready: false
        started: false
        state:
          waiting:
            reason: ImagePullBackOff
            message: {{ printf "Back-off pulling image %%q" .image | Quote }}
        {{ else }}
        ready: true
        started: true
        state:
          running: {startedAt: {{ $since | Quote }}}
        {{ end }}
      {{ end }}
      phase: Pending
      startTime: {{ $since | Quote }}
`

const failsAtStartStatus = `      {{ $since := .metadata.creationTimestamp }}
      {{ $pod := . }}
      conditions:
      - {type: Initialized, status: "True", lastTransitionTime: {{ $since | Quote }}}
      - {type: PodScheduled, status: "True", lastTransitionTime: {{ $since | Quote }}}
      - {type: Ready, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $since | Quote }}}
      - {type: ContainersReady, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $since | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        started: false
        {{ if eq .image %[1]q }}
        ready: false
        restartCount: 1
        lastState:
          terminated: {exitCode: 1, reason: Error, startedAt: {{ $since | Quote }}, finishedAt: {{ $since | Quote }}}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: {{ printf "back-off 10s restarting failed container=%%s pod=%%s_%%s(%%s)" .name $pod.metadata.name $pod.metadata.namespace $pod.metadata.uid | Quote }}
        {{ else }}
        ready: false
        restartCount: 0
        state:
          running: {startedAt: {{ $since | Quote }}}
        {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $since | Quote }}
`

// crashLoopStages crash a running, ready container of the image (%[1]q) and restart it.
const crashLoopStages = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: testcluster-crash
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: [Running]}
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: In, values: ["True"]}
    - {key: '.spec.containers.[].image', operator: In, values: [%[1]q]}
  delay: {durationMilliseconds: 3000}
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $pod := . }}
      conditions:
      - {type: Ready, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "False", reason: ContainersNotReady, lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .status.containerStatuses }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        {{ if eq .image %[1]q }}
        ready: false
        started: false
        restartCount: {{ add .restartCount 1 }}
        lastState:
          terminated: {exitCode: 1, reason: Error, startedAt: {{ .state.running.startedAt | Quote }}, finishedAt: {{ $now | Quote }}}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: {{ printf "back-off 10s restarting failed container=%%s pod=%%s_%%s(%%s)" .name $pod.metadata.name $pod.metadata.namespace $pod.metadata.uid | Quote }}
        {{ else }}
        ready: {{ .ready }}
        restartCount: {{ .restartCount }}
        state: {{ toJson .state }}
        {{ end }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: testcluster-crash-restart
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.metadata.deletionTimestamp', operator: DoesNotExist}
    - {key: '.status.phase', operator: In, values: [Running]}
    - {key: '.status.containerStatuses.[].state.waiting.reason', operator: In, values: [CrashLoopBackOff]}
    - {key: '.spec.containers.[].image', operator: In, values: [%[1]q]}
  delay: {durationMilliseconds: 3000}
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .status.containerStatuses }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        started: true
        restartCount: {{ .restartCount }}
        {{ with .lastState }}
        lastState: {{ toJson . }}
        {{ end }}
        state:
          {{ if .state.running }}
          running: {{ toJson .state.running }}
          {{ else }}
          running: {startedAt: {{ $now | Quote }}}
          {{ end }}
      {{ end }}
`

// writeKwokConfig writes KWOK's configuration: the stages above, and the pod CIDR of Pods on Nodes
// without one (there are none: each fake Node has its own).
func writeKwokConfig(path, stagesDir string, pods *podnet.Block) error {
	docs := []string{fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: %s
  # KWOK's defaults (zz_generated.defaults.go), which a configuration file does not get on its own.
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
`, pods.PodCIDR(podnet.MaxNodes-1))}
	for _, name := range kwokStages {
		data, err := os.ReadFile(filepath.Join(stagesDir, name))
		if err != nil {
			return fmt.Errorf("KWOK stage: %w", err)
		}
		docs = append(docs, string(data))
	}
	docs = append(docs, faultStages)
	return os.WriteFile(path, []byte(strings.Join(docs, "\n---\n")), 0o644)
}

// createFakeNodes registers the Nodes KWOK plays, each with a pod CIDR in the cluster's block of podnet.Range,
// and waits until KWOK reports them Ready.
func createFakeNodes(ctx context.Context, clientset kubernetes.Interface, pods *podnet.Block) error {
	for i := range fakeNodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				// The labels a kubelet sets on itself; KWOK's docs mark its nodes with this annotation.
				Labels: map[string]string{
					"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok",
				},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Spec: corev1.NodeSpec{PodCIDR: pods.PodCIDR(i), PodCIDRs: []string{pods.PodCIDR(i)}},
		}
		if _, err := clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create fake node %s: %w", name, err)
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return false, nil //nolint:nilerr // the apiserver may still be settling; the poll bounds the wait
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == fakeNodes, nil
	})
	if err != nil {
		return err
	}
	// The apiserver taints a new Node node.kubernetes.io/not-ready (TaintNodesByCondition); the node
	// lifecycle controller lifts the taint once the Node is Ready. That controller does not run here
	// (KWOK's Nodes send no heartbeats, so it would mark them unreachable), so the taint is lifted
	// here, as it would.
	for i := range fakeNodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node, err := clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
			_, err = clientset.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("untaint fake node %s: %w", name, err)
		}
	}
	return nil
}
