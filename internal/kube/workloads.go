package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Reading what the ModelMesh controller made of the runtimes: their Deployments, Pods and the
// Pods' events, to explain why a model does not load.

var (
	namespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	pods        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	events      = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

// The labels of the controller's runtime Deployments and their Pods
// (modelmesh-serving config/internal/base/deployment.yaml.tmpl): "name" is
// <service name>-<runtime name>, "modelmesh-service" the service name.
const (
	managedBySelector = "app.kubernetes.io/managed-by=modelmesh-controller"
	serviceLabel      = "modelmesh-service"
	nameLabel         = "name"
)

// Namespace reads a namespace.
func (c *Client) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := retryTransient(ctx, func() (*unstructured.Unstructured, error) {
		return c.dynamic.Resource(namespaces).Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, fmt.Errorf("reading namespace %q: %w", name, err)
	}
	var ns corev1.Namespace
	return &ns, fromUnstructured(obj, &ns)
}

// List reads, in one request, the objects of a kind in a namespace (all of them for a
// cluster-scoped kind) that match labelSelector ("" for all). It sets no page size: the callers
// read the whole answer at once.
func (c *Client) List(ctx context.Context, kind Kind, namespace, labelSelector string) ([]unstructured.Unstructured, error) {
	r := Ref{Kind: kind}
	if kind.Namespaced {
		r.Namespace = namespace
	}
	list, err := retryTransient(ctx, func() (*unstructured.UnstructuredList, error) {
		return c.resource(r).List(ctx, metav1.ListOptions{LabelSelector: labelSelector})
	})
	if err != nil {
		return nil, explain(r, "listing", err)
	}
	return list.Items, nil
}

// RuntimeDeployment is a runtime the controller deployed, with its Pods.
type RuntimeDeployment struct {
	Runtime    string
	Deployment appsv1.Deployment
	Pods       []corev1.Pod
}

// RuntimeDeployments lists the runtime Deployments of a namespace, keyed by runtime name.
func (c *Client) RuntimeDeployments(ctx context.Context, namespace string) (map[string]*RuntimeDeployment, error) {
	var deploymentList appsv1.DeploymentList
	if err := c.list(ctx, deployments, namespace, metav1.ListOptions{LabelSelector: managedBySelector}, &deploymentList); err != nil {
		return nil, err
	}
	var podList corev1.PodList
	if err := c.list(ctx, pods, namespace, metav1.ListOptions{LabelSelector: managedBySelector}, &podList); err != nil {
		return nil, err
	}
	byName := map[string]*RuntimeDeployment{}
	out := map[string]*RuntimeDeployment{}
	for _, d := range deploymentList.Items {
		labels := d.Spec.Template.Labels
		runtimeName, ok := strings.CutPrefix(labels[nameLabel], labels[serviceLabel]+"-")
		if !ok || labels[serviceLabel] == "" {
			continue
		}
		rd := &RuntimeDeployment{Runtime: runtimeName, Deployment: d}
		out[runtimeName] = rd
		byName[labels[nameLabel]] = rd
	}
	for _, p := range podList.Items {
		if rd := byName[p.Labels[nameLabel]]; rd != nil {
			rd.Pods = append(rd.Pods, p)
		}
	}
	for _, rd := range out {
		sort.Slice(rd.Pods, func(i, j int) bool { return rd.Pods[i].Name < rd.Pods[j].Name })
	}
	return out, nil
}

// LastWarning is the message of the newest Warning event about a Pod, empty when there is none.
func (c *Client) LastWarning(ctx context.Context, namespace, pod string) (string, error) {
	newest, err := c.newestWarning(ctx, namespace, pod)
	if err != nil || newest == nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s", newest.Reason, newest.Message), nil
}

func (c *Client) newestWarning(ctx context.Context, namespace, pod string) (*corev1.Event, error) {
	selector := fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
		fields.OneTermEqualSelector("involvedObject.name", pod),
		fields.OneTermEqualSelector("type", corev1.EventTypeWarning),
	).String()
	var list corev1.EventList
	if err := c.list(ctx, events, namespace, metav1.ListOptions{FieldSelector: selector}, &list); err != nil {
		return nil, err
	}
	var newest *corev1.Event
	for i := range list.Items {
		if e := &list.Items[i]; newest == nil || eventTime(e).After(eventTime(newest)) {
			newest = e
		}
	}
	return newest, nil
}

// setupFailures are the kubelet's warning events for a Pod it cannot start any container of: a
// volume it cannot mount (a Secret or ConfigMap that does not exist) or a sandbox the container
// runtime cannot make. The containers meanwhile wait as ContainerCreating, which is also how any
// starting Pod looks: only the event tells them apart (k8s.io/kubernetes pkg/kubelet/events:
// FailedMountVolume, FailedAttachVolume, FailedCreatePodSandBox).
var setupFailures = map[string]bool{"FailedMount": true, "FailedAttachVolume": true, "FailedCreatePodSandBox": true}

// SetupProblem is what keeps a scheduled Pod's containers from being created, from the newest
// kubelet warning about it; nil while the Pod is not in that state or has no such warning.
func (c *Client) SetupProblem(ctx context.Context, pod *corev1.Pod) (*PodProblem, error) {
	if !containersCreating(pod) {
		return nil, nil
	}
	newest, err := c.newestWarning(ctx, pod.Namespace, pod.Name)
	if err != nil || newest == nil || !setupFailures[newest.Reason] {
		return nil, err
	}
	return &PodProblem{Pod: pod.Name, Reason: newest.Reason, Message: newest.Message}, nil
}

// containersCreating: the Pod is on a node and none of its containers has been created yet (the
// kubelet reports each as waiting, ContainerCreating or PodInitializing behind init containers).
func containersCreating(pod *corev1.Pod) bool {
	if pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodPending {
		return false
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		if w := s.State.Waiting; w == nil || (w.Reason != "ContainerCreating" && w.Reason != "PodInitializing") {
			return false
		}
	}
	return true
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func (c *Client) list(ctx context.Context, gvr schema.GroupVersionResource, namespace string, opts metav1.ListOptions, into any) error {
	list, err := retryTransient(ctx, func() (*unstructured.UnstructuredList, error) {
		return c.dynamic.Resource(gvr).Namespace(namespace).List(ctx, opts)
	})
	if err != nil {
		return fmt.Errorf("listing %s in namespace %q: %w", gvr.Resource, namespace, err)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(list.UnstructuredContent(), into)
}

func fromUnstructured(obj *unstructured.Unstructured, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into)
}

// PodProblem is one reason a Pod does not run, as the kubelet or the scheduler reports it.
type PodProblem struct {
	Pod, Container, Reason, Message string
}

func (p PodProblem) String() string {
	where := "pod " + p.Pod
	if p.Container != "" {
		where += ", container " + p.Container
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Reason, p.Message)
}

// stuckReasons are the states in which a Pod stays until something outside it changes: the image,
// the configuration it mounts, or the cluster's capacity. The kubelet retries them, so they count
// only once they last (see the caller's grace); ContainerCreating and plain Pending are progress.
var stuckReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// Problems lists what keeps a Pod from running: an unschedulable Pod, and containers waiting in a
// stuck state.
func Problems(pod *corev1.Pod) []PodProblem {
	var out []PodProblem
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			out = append(out, PodProblem{Pod: pod.Name, Reason: c.Reason, Message: c.Message})
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		if w := s.State.Waiting; w != nil && stuckReasons[w.Reason] {
			message := w.Message
			if t := s.LastTerminationState.Terminated; w.Reason == "CrashLoopBackOff" && t != nil {
				message = fmt.Sprintf("%s (last exit code %d, %s; %d restarts)", message, t.ExitCode, t.Reason, s.RestartCount)
			}
			out = append(out, PodProblem{Pod: pod.Name, Container: s.Name, Reason: w.Reason, Message: message})
		}
	}
	return out
}

// PodReady reports the Pod's Ready condition.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
