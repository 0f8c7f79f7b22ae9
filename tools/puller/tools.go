//go:build tools

// Package tools pins the model-serving-puller of modelmesh-runtime-adapter, the container that pulls
// a model from storage for the model server in every ModelMesh runtime Pod.
package tools

import _ "github.com/kserve/modelmesh-runtime-adapter/model-serving-puller"
