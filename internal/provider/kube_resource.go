package provider

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The core of the resources that manage one Kubernetes object (asm_serving_runtime,
// asm_cluster_serving_runtime, asm_inference_service): ids and import, timeouts, server-side apply
// that refuses to adopt an object on create, reads of the fields Terraform's field manager owns, and
// a delete that waits until the object is gone. Each resource supplies its schema and the hooks of
// kubeHooks; asm_model_storage, a key in a shared Secret rather than an object, uses the helpers.

// objectAttributes are the attributes of a model that every Kubernetes-object resource has.
type objectAttributes struct {
	id             *types.String
	forceConflicts types.Bool
	timeouts       timeouts.Value
}

// kubeHooks is what a resource supplies to kubeResource for its model M.
type kubeHooks[M any] interface {
	// getModel reads the model from a configuration, plan or state; setModel stores it.
	getModel(ctx context.Context, from modelGetter, diags *diag.Diagnostics) M
	setModel(ctx context.Context, to modelSetter, m *M, diags *diag.Diagnostics)
	// common gives the attributes every object resource has, and ref the object the model names.
	common(m *M) objectAttributes
	ref(m *M) kube.Ref
	// buildObject is the object to apply: only the fields Terraform manages.
	buildObject(ctx context.Context, m *M) (*unstructured.Unstructured, error)
	// readObject refreshes m, holding the prior values, from the live object and the fields
	// Terraform's field manager owns in it.
	readObject(ctx context.Context, m *M, obj *unstructured.Unstructured, owned kube.OwnedFields) error
}

// appliedChecker is an optional hook: it compares what was requested with what an apply read back.
type appliedChecker[M any] interface {
	checkApplied(ctx context.Context, requested, got *M, diags *diag.Diagnostics)
}

// modelGetter is tfsdk.Config, Plan or State; modelSetter is Plan or State.
type modelGetter interface {
	Get(context.Context, any) diag.Diagnostics
}

type modelSetter interface {
	Set(context.Context, any) diag.Diagnostics
}

// kubeResource implements Metadata, Create, Update, Read, Delete and ImportState for a resource
// managing one Kubernetes object; a resource embeds it and may replace any of them.
type kubeResource[M any] struct {
	configuredResource
	kind     kube.Kind
	typeName string // after the provider's type name, e.g. "_serving_runtime"
	// Default timeouts, which the schema's description states.
	applyTimeout, deleteTimeout time.Duration
	// importByName: an import id of just `<name>` means the provider's default namespace.
	importByName bool
	// importDefaults are set on import besides id, name, namespace and force_conflicts, so that the
	// first plan after an import shows no change for attributes with a default.
	importDefaults map[string]attr.Value
	hooks          kubeHooks[M]
}

func (r *kubeResource[M]) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + r.typeName
}

// kubeClient returns the shared client or an error diagnostic naming the missing setting.
func (d *providerData) kubeClient(diags *diag.Diagnostics) *kube.Client {
	client, err := d.Kube()
	if err != nil {
		diags.AddError("Kubernetes cluster not reachable with the provider configuration", err.Error())
		return nil
	}
	return client
}

// kubeID is the id of a resource managing the object: `<namespace>/<name>`, or `<name>` for a
// cluster-scoped object.
func kubeID(ref kube.Ref) string {
	if ref.Namespace == "" {
		return ref.Name
	}
	return ref.Namespace + "/" + ref.Name
}

// operationTimeout is the timeout of operation ("create", "update" or "delete") in the timeouts
// block, or def when unset.
func operationTimeout(ctx context.Context, t timeouts.Value, operation string, def time.Duration, diags *diag.Diagnostics) time.Duration {
	get := map[string]func(context.Context, time.Duration) (time.Duration, diag.Diagnostics){
		"create": t.Create, "update": t.Update, "delete": t.Delete,
	}[operation]
	timeout, timeoutDiags := get(ctx, def)
	diags.Append(timeoutDiags...)
	return timeout
}

func applyOperation(create bool) string {
	if create {
		return "create"
	}
	return "update"
}

func (r *kubeResource[M]) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.applyPlan(ctx, req.Plan, true, &resp.State, &resp.Diagnostics)
}

func (r *kubeResource[M]) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.applyPlan(ctx, req.Plan, false, &resp.State, &resp.Diagnostics)
}

// applyPlan is Create (create set) and Update: it applies the plan within the create or update
// timeout and stores what the API server answered.
func (r *kubeResource[M]) applyPlan(ctx context.Context, planned tfsdk.Plan, create bool, state *tfsdk.State, diags *diag.Diagnostics) {
	plan := r.hooks.getModel(ctx, planned, diags)
	if diags.HasError() {
		return
	}
	timeout := operationTimeout(ctx, r.hooks.common(&plan).timeouts, applyOperation(create), r.applyTimeout, diags)
	if diags.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	requested := plan
	applied, _ := r.applyObject(ctx, &plan, create, false, diags)
	if diags.HasError() {
		return
	}
	r.readInto(ctx, &plan, applied, diags)
	if diags.HasError() {
		return
	}
	if checker, ok := r.hooks.(appliedChecker[M]); ok {
		checker.checkApplied(ctx, &requested, &plan, diags)
		if diags.HasError() {
			return
		}
	}
	r.hooks.setModel(ctx, state, &plan, diags)
}

// applyObject server-side-applies the object m describes and sets its id. On create it first
// refuses an existing object: server-side apply would silently adopt it. With readPrevious it also
// returns the object as it was before the apply (nil when there was none).
func (r *kubeResource[M]) applyObject(ctx context.Context, m *M, create, readPrevious bool, diags *diag.Diagnostics) (applied, previous *unstructured.Unstructured) {
	client := r.data.kubeClient(diags)
	if client == nil {
		return nil, nil
	}
	ref := r.hooks.ref(m)
	obj, err := r.hooks.buildObject(ctx, m)
	if err != nil {
		diags.AddError(fmt.Sprintf("Building %s failed", ref), err.Error())
		return nil, nil
	}
	if create || readPrevious {
		var found bool
		previous, found = readObject(ctx, client, ref, diags)
		if diags.HasError() {
			return nil, nil
		}
		if found && create {
			diags.AddError(fmt.Sprintf("%s already exists", ref),
				fmt.Sprintf("Import it to manage it with Terraform (terraform import asm%s.<name> %s), or choose another name.",
					r.typeName, kubeID(ref)))
			return nil, nil
		}
	}
	common := r.hooks.common(m)
	applied, err = client.Apply(ctx, ref, obj, kube.ApplyOptions{FieldManager: r.data.fieldManager, Force: common.forceConflicts.ValueBool()})
	if err != nil {
		diags.AddError(fmt.Sprintf("Applying %s failed", ref), err.Error())
		return nil, nil
	}
	*common.id = types.StringValue(kubeID(ref))
	return applied, previous
}

// readInto refreshes m from the live object through the resource's readObject hook.
func (r *kubeResource[M]) readInto(ctx context.Context, m *M, obj *unstructured.Unstructured, diags *diag.Diagnostics) {
	*r.hooks.common(m).id = types.StringValue(kubeID(r.hooks.ref(m)))
	owned, err := kube.Owned(obj, r.data.fieldManager)
	if err == nil && owned.None() {
		// An object this provider never applied (imported from another tool) is read in full: its
		// configuration is then what the object holds.
		owned = kube.AllFields()
	}
	if err == nil {
		err = r.hooks.readObject(ctx, m, obj, owned)
	}
	if err != nil {
		diags.AddError(fmt.Sprintf("Reading back %s failed", r.hooks.ref(m)), err.Error())
	}
}

// Read removes the resource when the object is gone, and otherwise writes back the model only when
// the refresh changed it.
func (r *kubeResource[M]) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	state := r.hooks.getModel(ctx, req.State, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.data.kubeClient(&resp.Diagnostics)
	if client == nil {
		return
	}
	obj, found := readObject(ctx, client, r.hooks.ref(&state), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found {
		resp.State.RemoveResource(ctx)
		return
	}
	prior := state
	r.readInto(ctx, &state, obj, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !unchanged(state, prior) {
		r.hooks.setModel(ctx, &resp.State, &state, &resp.Diagnostics)
	}
}

func (r *kubeResource[M]) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	state := r.hooks.getModel(ctx, req.State, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout := operationTimeout(ctx, r.hooks.common(&state).timeouts, "delete", r.deleteTimeout, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.data.deleteObject(ctx, timeout, r.hooks.ref(&state), &resp.Diagnostics)
}

// ImportState takes `<namespace>/<name>` (or `<name>` with importByName, for the provider's default
// namespace); a cluster-scoped kind takes `<name>`. Read then fills the rest.
func (r *kubeResource[M]) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ref, err := r.importRef(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import ID", err.Error())
		return
	}
	values := map[string]attr.Value{
		"id": types.StringValue(kubeID(ref)), "name": types.StringValue(ref.Name), "force_conflicts": types.BoolValue(false),
	}
	if r.kind.Namespaced {
		values["namespace"] = types.StringValue(ref.Namespace)
	}
	for attribute, value := range r.importDefaults {
		values[attribute] = value
	}
	for attribute, value := range values {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attribute), value)...)
	}
}

func (r *kubeResource[M]) importRef(id string) (kube.Ref, error) {
	ref := kube.Ref{Kind: r.kind, Name: id}
	if r.kind.Namespaced {
		if !r.importByName || strings.Contains(id, "/") {
			namespace, name, err := parseNamespacedID(id)
			ref.Namespace, ref.Name = namespace, name
			return ref, err
		}
		if r.data != nil {
			ref.Namespace = r.data.namespace
		}
	}
	if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
		format := "<name>"
		if r.kind.Namespaced {
			format = "<namespace>/<name> or <name>"
		}
		return ref, fmt.Errorf("import id %q is not of the form %s: %s", id, format, strings.Join(errs, "; "))
	}
	return ref, nil
}

// parseNamespacedID splits an import id of the form namespace/name.
func parseNamespacedID(id string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(id, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("import id %q is not of the form <namespace>/<name>, e.g. modelmesh-serving/my-model-sample", id)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "", "", fmt.Errorf("import id %q: namespace %q is invalid: %s", id, namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", fmt.Errorf("import id %q: name %q is invalid: %s", id, name, strings.Join(errs, "; "))
	}
	return namespace, name, nil
}

// readObject GETs the object. found is false only on a definite not-found; every other failure,
// including a missing CRD, is an error so that nothing is dropped from state by mistake.
func readObject(ctx context.Context, client *kube.Client, ref kube.Ref, diags *diag.Diagnostics) (obj *unstructured.Unstructured, found bool) {
	obj, err := client.Get(ctx, ref)
	switch {
	case err == nil:
		return obj, true
	case kube.IsNotFound(err):
		return nil, false
	}
	diags.AddError(fmt.Sprintf("Reading %s failed", ref), err.Error())
	return nil, false
}

// unchanged reports whether a refresh left the model read from state as it was. A read response
// starts as the prior state, so Read then skips writing the model back: that conversion, through
// the framework's reflection, was a quarter to a third of the CPU time of a refresh.
func unchanged[M any](refreshed, prior M) bool {
	return reflect.DeepEqual(refreshed, prior)
}

// deleteObject deletes the object and waits until it is gone, within the resource's delete
// timeout. Already gone, or its CRD removed along with every object of that kind, counts as deleted.
func (d *providerData) deleteObject(ctx context.Context, timeout time.Duration, ref kube.Ref, diags *diag.Diagnostics) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := d.kubeClient(diags)
	if client == nil {
		return
	}
	deleteWith(ctx, client, ref, diags)
}

// deleteWith deletes the object through client and waits until it is gone, within ctx.
func deleteWith(ctx context.Context, client *kube.Client, ref kube.Ref, diags *diag.Diagnostics) {
	if err := client.Delete(ctx, ref); err != nil {
		if kube.IsNotInstalled(err) {
			return
		}
		diags.AddError(fmt.Sprintf("Deleting %s failed", ref), err.Error())
		return
	}
	if err := client.WaitGone(ctx, ref); err != nil {
		diags.AddError(fmt.Sprintf("Waiting for %s to be deleted failed", ref),
			err.Error()+"\nIf the object has finalizers, check that the controller that owns them is running; "+
				"raise the delete timeout in the resource's timeouts block if it is just slow.")
	}
}

// namespaceAttribute is the "namespace" attribute of a namespaced object, which planNamespace
// resolves; of names the object, onChange what a change of namespace does to it.
func namespaceAttribute(of, onChange string) schema.StringAttribute {
	return schema.StringAttribute{
		Optional: true,
		Computed: true,
		Description: fmt.Sprintf("Namespace of the %s. Defaults to the provider's `kubernetes.namespace` (itself defaulting "+
			"to `modelmesh-serving`). Changing it, or the provider default it came from, %s.", of, onChange),
		Validators: []validator.String{dnsLabel()},
	}
}

// planNamespace resolves an unset namespace to the provider's default at plan time, and replaces the
// object when the resolved namespace differs from the one in state (also what a changed provider
// default means). Resources with an Optional+Computed "namespace" call it from ModifyPlan; a plain
// RequiresReplace modifier would replace on every update, when the unset namespace is unknown.
func planNamespace(ctx context.Context, data *providerData, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || data == nil {
		return
	}
	nsPath := path.Root("namespace")
	var planned, prior types.String
	namespace := resolveNamespace(ctx, data, req.Config, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, nsPath, &planned)...)
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, nsPath, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// SetAttribute rebuilds the whole plan value (issue 31's profile); in a no-change plan the
	// namespace is already the one in state.
	if !namespace.Equal(planned) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, nsPath, namespace)...)
	}
	if !req.State.Raw.IsNull() && !namespace.Equal(prior) {
		resp.RequiresReplace = append(resp.RequiresReplace, nsPath)
	}
}

// resolveNamespace is the configured namespace, or the provider's default.
func resolveNamespace(ctx context.Context, data *providerData, config tfsdk.Config, diags *diag.Diagnostics) types.String {
	var configured types.String
	diags.Append(config.GetAttribute(ctx, path.Root("namespace"), &configured)...)
	if configured.IsNull() {
		return types.StringValue(data.namespace)
	}
	return configured
}

// namespaceKept reports whether planNamespace leaves a plan equal to prior alone.
func namespaceKept(ctx context.Context, data *providerData, config tfsdk.Config, prior tfsdk.State) bool {
	if data == nil {
		return true
	}
	var diags diag.Diagnostics
	var priorNamespace types.String
	namespace := resolveNamespace(ctx, data, config, &diags)
	diags.Append(prior.GetAttribute(ctx, path.Root("namespace"), &priorNamespace)...)
	return len(diags) == 0 && namespace.Equal(priorNamespace)
}
