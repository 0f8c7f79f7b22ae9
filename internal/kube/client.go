// Package kube applies, reads, watches and deletes KServe objects on the data-plane cluster.
package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Kind names one resource type the provider manages. We know our GVRs, so no discovery is done.
type Kind struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
	// CRD is the CustomResourceDefinition that must be installed, empty for built-in types.
	CRD string
	// Missing, when set, is what to do when the CRD is not installed; the default speaks of KServe.
	Missing string
}

var (
	ServingRuntime = Kind{
		GVR:  schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "servingruntimes"},
		Kind: "ServingRuntime", Namespaced: true, CRD: "servingruntimes.serving.kserve.io",
	}
	ClusterServingRuntime = Kind{
		GVR:  schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1alpha1", Resource: "clusterservingruntimes"},
		Kind: "ClusterServingRuntime", CRD: "clusterservingruntimes.serving.kserve.io",
	}
	InferenceService = Kind{
		GVR:  schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"},
		Kind: "InferenceService", Namespaced: true, CRD: "inferenceservices.serving.kserve.io",
	}
	Secret = Kind{
		GVR:  schema.GroupVersionResource{Version: "v1", Resource: "secrets"},
		Kind: "Secret", Namespaced: true,
	}
	Service = Kind{
		GVR:  schema.GroupVersionResource{Version: "v1", Resource: "services"},
		Kind: "Service", Namespaced: true,
	}
	// IstioGateway and IstioVirtualService live on an ASM mesh's control plane. v1beta1 is served by
	// every Istio since 1.5, so by every ASM release that runs ModelMesh (1.18 and later); v1 only from 1.22.
	IstioGateway = Kind{
		GVR:  schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "gateways"},
		Kind: "Gateway", Namespaced: true, CRD: "gateways.networking.istio.io", Missing: istioMissing,
	}
	IstioVirtualService = Kind{
		GVR:  schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"},
		Kind: "VirtualService", Namespaced: true, CRD: "virtualservices.networking.istio.io", Missing: istioMissing,
	}
)

const istioMissing = "the API server reached is not an Istio control plane: check that the kubeconfig is the ASM " +
	"mesh's (DescribeServiceMeshKubeconfig), not a data-plane cluster's"

// APIVersion is the apiVersion written into objects of this kind.
func (k Kind) APIVersion() string { return k.GVR.GroupVersion().String() }

// Ref identifies one object. Namespace is empty for cluster-scoped kinds.
type Ref struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (r Ref) String() string {
	if r.Name == "" { // the objects a List reads
		if r.Namespace == "" {
			return r.Kind.Kind + " objects"
		}
		return fmt.Sprintf("%s objects in namespace %q", r.Kind.Kind, r.Namespace)
	}
	if r.Namespace == "" {
		return fmt.Sprintf("%s %q", r.Kind.Kind, r.Name)
	}
	return fmt.Sprintf("%s %q in namespace %q", r.Kind.Kind, r.Name, r.Namespace)
}

// Client is safe for concurrent use; the provider shares one across all resources.
type Client struct {
	dynamic dynamic.Interface
	hints   Hints
}

// Hints say, in an error, which settings lead to the API server; DataPlaneHints name the provider's
// kubernetes block.
type Hints struct {
	// Unreachable follows "the Kubernetes API server could not be reached".
	Unreachable string
	// Unauthorized follows "the cluster rejected the credentials (401 Unauthorized)".
	Unauthorized string
}

var DataPlaneHints = Hints{
	Unreachable: "Check that kubernetes.host or the kubeconfig's server (kubernetes.config_path, kubernetes.config_context) " +
		"in the asm provider block points at a running cluster, then run terraform again",
	Unauthorized: "the token may have expired or belong to another cluster. Check kubernetes.token, " +
		"kubernetes.client_certificate/client_key or the kubeconfig user (kubernetes.config_path, kubernetes.config_context) " +
		"in the asm provider block",
}

// New builds a client of the data-plane cluster without contacting it.
func New(cfg *rest.Config) (*Client, error) {
	return NewWithHints(cfg, DataPlaneHints)
}

// NewWithHints builds a client of another API server, whose errors give hints instead.
func NewWithHints(cfg *rest.Config, hints Hints) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building Kubernetes client: %w", err)
	}
	return &Client{dynamic: dyn, hints: hints}, nil
}

func (c *Client) resource(r Ref) dynamic.ResourceInterface {
	res := c.dynamic.Resource(r.Kind.GVR)
	if r.Kind.Namespaced {
		return res.Namespace(r.Namespace)
	}
	return res
}

// ApplyOptions control server-side apply.
type ApplyOptions struct {
	FieldManager string
	Force        bool
}

// Apply server-side-applies obj (which must carry apiVersion, kind and name) and returns the result.
func (c *Client) Apply(ctx context.Context, r Ref, obj *unstructured.Unstructured, opts ApplyOptions) (*unstructured.Unstructured, error) {
	out, err := retryTransient(ctx, func() (*unstructured.Unstructured, error) {
		return c.resource(r).Apply(ctx, r.Name, obj, metav1.ApplyOptions{FieldManager: opts.FieldManager, Force: opts.Force})
	})
	if err != nil {
		return nil, explainWith(c.hints, r, "applying", err)
	}
	return out, nil
}

// Get reads one object. A missing object yields an error for which IsNotFound is true.
func (c *Client) Get(ctx context.Context, r Ref) (*unstructured.Unstructured, error) {
	out, err := retryTransient(ctx, func() (*unstructured.Unstructured, error) {
		return c.resource(r).Get(ctx, r.Name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, explainWith(c.hints, r, "reading", err)
	}
	return out, nil
}

// Delete asks for deletion, as kubectl does: dependents are collected in the background, so
// WaitGone waits only for the object's own finalizers. An object already gone counts as deleted.
func (c *Client) Delete(ctx context.Context, r Ref) error {
	propagation := metav1.DeletePropagationBackground
	_, err := retryTransient(ctx, func() (struct{}, error) {
		return struct{}{}, c.resource(r).Delete(ctx, r.Name, metav1.DeleteOptions{PropagationPolicy: &propagation})
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return explainWith(c.hints, r, "deleting", err)
	}
	return nil
}

// WaitFor watches one object until done reports true or an error, and returns the last object
// seen. The watch is re-established (relisting) if the connection drops; ctx bounds the wait.
// done receives nil while the object does not exist.
func (c *Client) WaitFor(ctx context.Context, r Ref, done func(*unstructured.Unstructured) (bool, error)) (*unstructured.Unstructured, error) {
	selector := fields.OneTermEqualSelector("metadata.name", r.Name).String()
	res := c.resource(r)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return res.Watch(ctx, o)
		},
	}
	var last *unstructured.Unstructured
	precondition := func(store cache.Store) (bool, error) {
		items := store.List()
		if len(items) == 0 {
			return done(nil)
		}
		obj, ok := items[0].(*unstructured.Unstructured)
		if !ok {
			return false, fmt.Errorf("unexpected %T in the watch cache", items[0])
		}
		last = obj
		return done(last)
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, precondition, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return done(nil)
		}
		obj, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		last = obj
		return done(obj)
	})
	if err != nil {
		if errors.Is(err, watchtools.ErrWatchClosed) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			return last, fmt.Errorf("timed out waiting for %s: %w", r, context.DeadlineExceeded)
		}
		return last, explainWith(c.hints, r, "watching", err)
	}
	return last, nil
}

// WaitGone blocks until the object no longer exists.
func (c *Client) WaitGone(ctx context.Context, r Ref) error {
	_, err := c.WaitFor(ctx, r, func(u *unstructured.Unstructured) (bool, error) { return u == nil, nil })
	return err
}

// NotInstalledError says the cluster lacks the CRD, which in ASM means KServe is not enabled.
type NotInstalledError struct {
	Kind Kind
}

func (e *NotInstalledError) Error() string {
	if e.Kind.Missing != "" {
		return fmt.Sprintf("the %s API (CRD %s) is not installed: %s", e.Kind.Kind, e.Kind.CRD, e.Kind.Missing)
	}
	return fmt.Sprintf("the %s API (CRD %s) is not installed on this cluster. ModelMesh/KServe must be "+
		"enabled first: in ASM, open the mesh in the console and enable KServe on ASM (Ecosystem > KServe on ASM), "+
		"or install KServe ModelMesh Serving; check that the provider's kubernetes block points at the data-plane cluster",
		e.Kind.Kind, e.Kind.CRD)
}

// IsNotFound reports a definite "object does not exist" (not a missing CRD, not a transient error).
func IsNotFound(err error) bool {
	var notInstalled *NotInstalledError
	return apierrors.IsNotFound(err) && !errors.As(err, &notInstalled)
}

// IsNotInstalled reports that the object's CRD is missing.
func IsNotInstalled(err error) bool {
	var notInstalled *NotInstalledError
	return errors.As(err, &notInstalled)
}

// explain turns API errors into messages that say what to do. The original error stays wrapped
// so callers can still classify it.
func explain(r Ref, verb string, err error) error {
	return explainWith(DataPlaneHints, r, verb, err)
}

func explainWith(hints Hints, r Ref, verb string, err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		if isConnectionError(err) {
			return fmt.Errorf("%s %s: the Kubernetes API server could not be reached, even after retrying for a while; "+
				"it may be down or restarting. %s: %w", verb, r, hints.Unreachable, err)
		}
		return fmt.Errorf("%s %s: %w", verb, r, err)
	}
	s := status.Status()
	switch {
	case apierrors.IsNotFound(err) && r.Kind.CRD != "" && (s.Details == nil || s.Details.Name == ""):
		// A 404 with no object name is the apiserver not knowing the resource type at all.
		return &NotInstalledError{Kind: r.Kind}
	case apierrors.IsConflict(err) && verb == "applying":
		return fmt.Errorf("applying %s: conflict with another field manager:\n%s\nAnother tool owns these fields. "+
			"Remove them from the other tool's configuration, or set force_conflicts = true on this resource "+
			"to take ownership: %w", r, conflictCauses(s), err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s %s: the cluster rejected the credentials (401 Unauthorized): %s: %w", verb, r, hints.Unauthorized, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s: the cluster's RBAC forbids it (403); grant the provider's identity access to %s: %w",
			verb, r, r.Kind.GVR.GroupResource(), err)
	}
	return fmt.Errorf("%s %s: %w", verb, r, err)
}

func conflictCauses(s metav1.Status) string {
	if s.Details == nil || len(s.Details.Causes) == 0 {
		return "  " + s.Message
	}
	lines := make([]string, 0, len(s.Details.Causes))
	for _, c := range s.Details.Causes {
		lines = append(lines, "  - "+c.Field+": "+c.Message)
	}
	return strings.Join(lines, "\n")
}
