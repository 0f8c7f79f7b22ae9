package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/asm-modelmesh/terraform-provider-asm/internal/kube"
)

// The value of an asm_model_storage key: the JSON document ModelMesh reads, written from and read
// back into the model, and the Secret and field manager that hold it.

// fields are the s3 block's attributes by the JSON field names ModelMesh reads.
func (s *s3StorageModel) fields() map[string]*types.String {
	return map[string]*types.String{
		"access_key_id": &s.AccessKeyID, "secret_access_key": &s.SecretAccessKey, "endpoint_url": &s.EndpointURL,
		"bucket": &s.Bucket, "region": &s.Region, "default_bucket": &s.DefaultBucket,
	}
}

func (m *modelStorageModel) ref() kube.Ref {
	return kube.Ref{Kind: kube.Secret, Namespace: m.Namespace.ValueString(), Name: m.SecretName.ValueString()}
}

// fieldManager is the resource's own manager, so that resources sharing the Secret never take each
// other's keys away. Kubernetes limits manager names to 128 bytes; long keys are hashed.
func (r *modelStorageResource) fieldManager(key string) string {
	manager := r.data.fieldManager + "/storage/" + key
	if len(manager) > 128 {
		sum := sha256.Sum256([]byte(key))
		manager = r.data.fieldManager + "/storage/" + hex.EncodeToString(sum[:8])
	}
	return manager
}

func secretObject(ref kube.Ref) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.Secret.APIVersion(),
		"kind":       kube.Secret.Kind,
		"metadata":   map[string]any{"name": ref.Name, "namespace": ref.Namespace},
	}}
}

// document is the JSON value of the key: type, then the s3 block's or config_json's fields, with
// the write-only values where they are set.
func (m *modelStorageModel) document() ([]byte, error) {
	source := m.ConfigJSON
	if !m.ConfigJSONWO.IsNull() {
		source = m.ConfigJSONWO
	}
	doc, err := source.object()
	if err != nil {
		return nil, err
	}
	if doc == nil {
		doc = map[string]any{}
	}
	if m.S3 != nil {
		for key, field := range m.S3.fields() {
			if !field.IsNull() {
				doc[key] = field.ValueString()
			}
		}
		if !m.S3.SecretAccessKeyWO.IsNull() {
			doc["secret_access_key"] = m.S3.SecretAccessKeyWO.ValueString()
		}
	}
	doc["type"] = m.Type.ValueString()
	return json.Marshal(doc)
}

// readDocument sets type, s3 and config_json from the key's value, in the form the state already
// uses. Fields the s3 block has no attribute for land in config_json, so that any out-of-band change
// shows as drift. A freshly imported key takes the s3 form when everything fits in it. What a
// write-only argument wrote (its version in state says which) never enters state, so a change of it
// made outside Terraform shows no drift.
func (m *modelStorageModel) readDocument(value []byte) diag.Diagnostics {
	var diags diag.Diagnostics
	secretVersion := types.Int64Null()
	if m.S3 != nil {
		secretVersion = m.S3.SecretAccessKeyWOVersion
	}
	writeOnly := !m.ConfigJSONWOVersion.IsNull() || !secretVersion.IsNull()
	var doc map[string]any
	if err := json.Unmarshal(value, &doc); err != nil || doc == nil {
		// Not ours any more: show it as it is (without a trace of the value when it would hold a
		// write-only secret), for the next apply to overwrite.
		m.Type, m.S3, m.ConfigJSON = types.StringNull(), nil, jsonObjectNull()
		if !writeOnly {
			m.ConfigJSON = jsonObjectValue{StringValue: types.StringValue(string(value))}
		}
		return diags
	}
	m.Type = types.StringNull()
	if t, ok := doc["type"].(string); ok {
		m.Type = types.StringValue(t)
		delete(doc, "type")
	}
	if !m.ConfigJSONWOVersion.IsNull() {
		// Every other field came from config_json_wo.
		m.S3, m.ConfigJSON = nil, jsonObjectNull()
		return diags
	}
	if !secretVersion.IsNull() {
		delete(doc, "secret_access_key")
	}
	useS3 := m.S3 != nil
	if m.S3 == nil && m.ConfigJSON.IsNull() {
		useS3 = m.Type.ValueString() == "s3" && fitsS3(doc)
	}
	m.S3 = nil
	if useS3 {
		m.S3 = &s3StorageModel{SecretAccessKeyWO: types.StringNull(), SecretAccessKeyWOVersion: secretVersion}
		for key, field := range m.S3.fields() {
			*field = types.StringNull()
			if s, ok := doc[key].(string); ok {
				*field = types.StringValue(s)
				delete(doc, key)
			}
		}
	}
	if len(doc) == 0 {
		doc = nil
	}
	configJSON, err := jsonObjectOf(doc)
	if err != nil {
		diags.AddError("Encoding config_json failed", err.Error())
		return diags
	}
	m.ConfigJSON = configJSON
	return diags
}

func fitsS3(doc map[string]any) bool {
	fields := (&s3StorageModel{}).fields()
	for key, v := range doc {
		if _, ok := v.(string); !ok || fields[key] == nil {
			return false
		}
	}
	return true
}
