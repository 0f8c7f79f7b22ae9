package acctest

import (
	"fmt"
	"strings"
)

// The HCL fixtures the acceptance tests share, one resource block each: a test appends them to its
// provider block. Each field left empty takes the value its comment names.

// Format is a model format: one a runtime supports, or the one a model needs.
type Format struct {
	Name       string
	Version    string // left out when empty
	AutoSelect bool   // runtimes only
}

// SKLearn is the format of the models the tests load; runtimes select it automatically.
var SKLearn = Format{Name: "sklearn", Version: "0", AutoSelect: true}

// Runtime is an asm_serving_runtime block: an MLServer runtime from the provider's preset.
type Runtime struct {
	Label     string // the block's label: "test"
	Name      string
	Namespace string
	Formats   []Format // [SKLearn]
	Image     string   // "seldonio/mlserver:1.3.2"
	Extra     string   // further arguments and blocks, as lines of HCL
}

// Address is the runtime's resource address.
func (r Runtime) Address() string {
	return "asm_serving_runtime." + label(r.Label)
}

// NameRef refers to the runtime's name from another block (a Model's Runtime): the model is then
// created after its runtime and destroyed before it.
func (r Runtime) NameRef() string {
	return r.Address() + ".name"
}

// HCL renders the block.
func (r Runtime) HCL() string {
	formats := r.Formats
	if len(formats) == 0 {
		formats = []Format{SKLearn}
	}
	rendered := make([]string, len(formats))
	for i, f := range formats {
		attrs := []string{fmt.Sprintf("name = %q", f.Name)}
		if f.Version != "" {
			attrs = append(attrs, fmt.Sprintf("version = %q", f.Version))
		}
		if f.AutoSelect {
			attrs = append(attrs, "auto_select = true")
		}
		rendered[i] = "{ " + strings.Join(attrs, ", ") + " }"
	}
	image := r.Image
	if image == "" {
		image = "seldonio/mlserver:1.3.2"
	}
	return fmt.Sprintf(`
resource "asm_serving_runtime" %q {
  name                    = %q
  namespace               = %q
  supported_model_formats = [%s]
  mlserver                = { image = %q }
%s}
`, label(r.Label), r.Name, r.Namespace, strings.Join(rendered, ", "), image, extraLines(r.Extra))
}

// Model is an asm_inference_service block. Runtime and StorageKey are HCL expressions: a quoted
// name (fmt's %q) or a reference such as Runtime.NameRef().
type Model struct {
	Label      string // the block's label: "test"
	Name       string
	Namespace  string
	Runtime    string // no runtime argument: the controller picks one that auto-selects the format
	Format     Format // {Name: "sklearn"}; AutoSelect does not apply
	StorageKey string // StorageKey quoted, which CreateModelNamespace creates
	Path       string
	Extra      string // further arguments and blocks, as lines of HCL
}

// Address is the model's resource address.
func (m Model) Address() string {
	return "asm_inference_service." + label(m.Label)
}

// HCL renders the block.
func (m Model) HCL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nresource \"asm_inference_service\" %q {\n  name      = %q\n  namespace = %q\n", label(m.Label), m.Name, m.Namespace)
	if m.Runtime != "" {
		fmt.Fprintf(&b, "  runtime   = %s\n", m.Runtime)
	}
	format := m.Format
	if format.Name == "" {
		format.Name = "sklearn"
	}
	if format.Version == "" {
		fmt.Fprintf(&b, "  model_format {\n    name = %q\n", format.Name)
	} else {
		fmt.Fprintf(&b, "  model_format {\n    name    = %q\n    version = %q\n", format.Name, format.Version)
	}
	key := m.StorageKey
	if key == "" {
		key = fmt.Sprintf("%q", StorageKey)
	}
	fmt.Fprintf(&b, "  }\n  storage {\n    key  = %s\n    path = %q\n  }\n", key, m.Path)
	b.WriteString(extraLines(m.Extra) + "}\n")
	return b.String()
}

func label(l string) string {
	if l == "" {
		return "test"
	}
	return l
}

// Storage is an asm_model_storage block for the local stack's S3 storage, under another key than
// StorageKey.
type Storage struct {
	Label     string // the block's label: "test"
	Name      string // the key in storage-config
	Namespace string
}

// HCL renders the block.
func (s Storage) HCL() string {
	return fmt.Sprintf(`
resource "asm_model_storage" %q {
  name      = %q
  namespace = %q
  type      = "s3"
  s3 {
    access_key_id     = "minio"
    secret_access_key = "minio-secret"
    endpoint_url      = "http://minio.modelmesh-serving:9000"
    bucket            = "models"
  }
}
`, label(s.Label), s.Name, s.Namespace)
}

// extraLines ends a block's further lines of HCL with one newline.
func extraLines(extra string) string {
	if extra == "" {
		return ""
	}
	return strings.TrimRight(extra, "\n") + "\n"
}
