package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/helpers/validatordiag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Validators for Kubernetes values, run offline at validate and plan time. Like the
// framework-validators ones, they skip null and unknown values (values that flow between modules
// are checked once known).

// stringCheck adapts a Kubernetes validation function returning messages into a string validator.
type stringCheck struct {
	description string
	check       func(string) []string
}

func (v stringCheck) Description(context.Context) string         { return v.description }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.description }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if errs := v.check(req.ConfigValue.ValueString()); len(errs) > 0 {
		resp.Diagnostics.Append(validatordiag.InvalidAttributeValueDiagnostic(req.Path,
			v.description+" ("+strings.Join(errs, "; ")+")", strconv.Quote(req.ConfigValue.ValueString())))
	}
}

func dnsSubdomain() validator.String {
	return stringCheck{"must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'; at most 253 characters)", validation.IsDNS1123Subdomain}
}

func dnsLabel() validator.String {
	return stringCheck{"must be a lowercase RFC 1123 label (a-z, 0-9, '-'; at most 63 characters)", validation.IsDNS1123Label}
}

// secretKey accepts the key of a Secret's data.
func secretKey() validator.String {
	return stringCheck{"must consist of letters, digits, '-', '_' or '.'", validation.IsConfigMapKey}
}

// dnsLabel1035 accepts a DNS-1035 label, the names of objects such as Services and InferenceServices.
func dnsLabel1035() validator.String {
	return stringCheck{"must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
		validation.IsDNS1035Label}
}

func envVarName() validator.String {
	return stringCheck{"must be a valid environment variable name", validation.IsEnvVarName}
}

func quantity() validator.String {
	return stringCheck{"must be a Kubernetes quantity such as 500m, 2 or 1Gi", checkQuantity}
}

// maxQuantityExponent bounds a quantity's decimal exponent (the e<n> suffix). Kubernetes caps a
// quantity at 2^63-1 and rounds it to 10^-9 (resource.Quantity), so nothing beyond this is stored
// as written, and comparing amounts with exponents in the millions takes minutes of CPU.
const maxQuantityExponent = 100

var quantityExponent = regexp.MustCompile(`[eE]([+-]?[0-9]+)$`)

// parseQuantity is resource.ParseQuantity for values from a configuration: it refuses a decimal
// exponent beyond maxQuantityExponent before parsing, since parsing and comparing such amounts
// takes minutes of CPU and gigabytes of memory.
func parseQuantity(s string) (resource.Quantity, error) {
	if m := quantityExponent.FindStringSubmatch(s); m != nil {
		if e, err := strconv.Atoi(m[1]); err != nil || e > maxQuantityExponent || e < -maxQuantityExponent {
			return resource.Quantity{}, fmt.Errorf("the exponent %s is out of range: Kubernetes stores quantities between 10^-9 and 2^63-1", m[1])
		}
	}
	return resource.ParseQuantity(s)
}

func checkQuantity(s string) []string {
	q, err := parseQuantity(s)
	if err != nil {
		return []string{err.Error()}
	}
	// Kubernetes stores a quantity in its canonical form. A few spellings (huge numbers written with
	// leading zeros) come out as a different amount, which would show as a diff on every plan.
	canonical := q.String()
	if back, err := resource.ParseQuantity(canonical); err != nil || back.Cmp(q) != 0 {
		return []string{fmt.Sprintf("Kubernetes would store it as %q, a different amount; write it without leading zeros", canonical)}
	}
	return nil
}

// portNumberOrName accepts what a probe's port may be: a number or a container port's name.
func portNumberOrName() validator.String {
	return stringCheck{"must be a port number (1-65535) or the name of a container port", func(s string) []string {
		if n, err := strconv.Atoi(s); err == nil {
			return validation.IsValidPortNum(n)
		}
		return validation.IsValidPortName(s)
	}}
}

func portName() validator.String {
	return stringCheck{"must be a port name (IANA_SVC_NAME)", validation.IsValidPortName}
}

func jsonObjectString() validator.String {
	return stringCheck{"must be a JSON object", func(s string) []string {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return []string{err.Error()}
		}
		if m == nil {
			return []string{"null is not an object"}
		}
		return nil
	}}
}

// mapCheck validates each known key and value of a map of strings.
type mapCheck struct {
	description string
	key         func(string) []string
	value       func(string) []string
}

func (v mapCheck) Description(context.Context) string         { return v.description }
func (v mapCheck) MarkdownDescription(context.Context) string { return v.description }

func (v mapCheck) ValidateMap(ctx context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k, e := range req.ConfigValue.Elements() {
		p := req.Path.AtMapKey(k)
		if v.key != nil {
			if errs := v.key(k); len(errs) > 0 {
				resp.Diagnostics.Append(validatordiag.InvalidAttributeValueDiagnostic(p,
					"key "+v.description+" ("+strings.Join(errs, "; ")+")", strconv.Quote(k)))
			}
		}
		s, ok := e.(basetypes.StringValuable)
		if v.value == nil || !ok || e.IsNull() || e.IsUnknown() {
			continue
		}
		sv, _ := s.ToStringValue(ctx)
		if errs := v.value(sv.ValueString()); len(errs) > 0 {
			resp.Diagnostics.Append(validatordiag.InvalidAttributeValueDiagnostic(p,
				"value "+v.description+" ("+strings.Join(errs, "; ")+")", strconv.Quote(sv.ValueString())))
		}
	}
}

// labelMap checks label keys and values; annotationMap only keys.
func labelMap() validator.Map {
	return mapCheck{description: "must be a valid Kubernetes label", key: validation.IsQualifiedName, value: validation.IsValidLabelValue}
}

func annotationMap() validator.Map {
	return mapCheck{description: "must be a valid Kubernetes annotation key", key: validation.IsQualifiedName}
}

func quantityMap() validator.Map {
	return mapCheck{description: "must be a resource name with a Kubernetes quantity such as 500m, 2 or 1Gi",
		key: validation.IsQualifiedName, value: checkQuantity}
}

// uniqueBy rejects two elements of a list of objects that agree on all the key attributes (unset
// ones included): `name` for containers and volumes; `name` and `version` for model formats, which
// upstream runtimes list once per version (triton-2.x: tensorflow 1 and 2).
type uniqueBy []string

var uniqueNames = uniqueBy{"name"}

func (v uniqueBy) Description(context.Context) string {
	return "elements must differ in " + strings.Join(v, " or ")
}
func (v uniqueBy) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (v uniqueBy) ValidateList(_ context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	seen := map[string]int{}
	for i, e := range req.ConfigValue.Elements() {
		obj, ok := e.(types.Object)
		if !ok || obj.IsNull() || obj.IsUnknown() {
			continue
		}
		key, known := make([]string, len(v)), true
		for k, name := range v {
			value, _ := obj.Attributes()[name].(types.String)
			known = known && !value.IsUnknown()
			key[k] = strconv.Quote(value.ValueString())
			if value.IsNull() {
				key[k] = "unset"
			}
		}
		if !known {
			continue
		}
		id := strings.Join(key, ", ")
		if first, dup := seen[id]; dup {
			what := "must be unique in the list"
			if len(v) > 1 {
				what = "with " + strings.Join(v[1:], ", ") + " " + strings.Join(key[1:], ", ") + " must be unique in the list"
			}
			resp.Diagnostics.Append(validatordiag.InvalidAttributeValueDiagnostic(req.Path.AtListIndex(i).AtName(v[0]),
				fmt.Sprintf("%s (also used by element %d)", what, first), key[0]))
			continue
		}
		seen[id] = i
	}
}

// attributesOneOf checks, on an object, how many of the named attributes are set: exactly one,
// or at most one. Unlike objectvalidator.ExactlyOneOf it does not count the object itself.
type attributesOneOf struct {
	exactly bool
	names   []string
}

func (v attributesOneOf) Description(context.Context) string {
	quoted := make([]string, len(v.names))
	for i, n := range v.names {
		quoted[i] = "`" + n + "`"
	}
	if v.exactly {
		return "exactly one of " + strings.Join(quoted, ", ") + " must be set"
	}
	return "at most one of " + strings.Join(quoted, ", ") + " may be set"
}

func (v attributesOneOf) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v attributesOneOf) ValidateObject(ctx context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	attrs := req.ConfigValue.Attributes()
	var set []string
	for _, n := range v.names {
		a := attrs[n]
		if a == nil {
			continue
		}
		if a.IsUnknown() {
			return
		}
		if !a.IsNull() {
			set = append(set, n)
		}
	}
	if len(set) > 1 || (v.exactly && len(set) == 0) {
		sort.Strings(set)
		resp.Diagnostics.Append(validatordiag.InvalidAttributeCombinationDiagnostic(req.Path,
			fmt.Sprintf("attribute %s: %s, got %d (%s)", req.Path, v.Description(ctx), len(set), strings.Join(set, ", "))))
	}
}
