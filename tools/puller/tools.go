//go:build tools

// Package tools pins the model-serving-puller of modelmesh-runtime-adapter, the container that pulls
// a model from storage for the model server in every ModelMesh runtime Pod, and the MLServer adapter
// (the same puller plus MLServer's model layout), the adapter container of the mlserver-1.x runtime.
package tools

import (
	_ "github.com/kserve/modelmesh-runtime-adapter/model-mesh-mlserver-adapter"
	_ "github.com/kserve/modelmesh-runtime-adapter/model-serving-puller"
)
