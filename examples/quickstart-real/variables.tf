# Required: no defaults, so nothing points at someone else's account by accident.

variable "region" {
  description = "Region of the ASM instance, the ACK cluster and the OSS bucket, e.g. cn-hangzhou."
  type        = string
}

variable "mesh_id" {
  description = "ID of the ASM instance (version 1.18.0.134 or later, with ModelMesh installed from Ecosystem > KServe on ASM)."
  type        = string

  validation {
    condition     = length(trimspace(var.mesh_id)) > 0
    error_message = "mesh_id must be the ID of an ASM instance."
  }
}

variable "cluster_id" {
  description = "ID of the ACK cluster where ModelMesh serves the models; the provider reaches it by this ID."
  type        = string

  validation {
    condition     = length(trimspace(var.cluster_id)) > 0
    error_message = "cluster_id must be the ID of an ACK cluster."
  }
}

variable "oss_bucket" {
  description = "OSS bucket holding the models, in the same region."
  type        = string
}

variable "oss_access_key_id" {
  description = "AccessKey ID of a RAM user allowed to read the bucket (oss:GetObject, oss:ListObjects): ModelMesh's puller uses it."
  type        = string
}

variable "oss_access_key_secret" {
  description = "AccessKey secret of that RAM user. Stored in the Kubernetes Secret storage-config and in Terraform state."
  type        = string
  sensitive   = true
}

# Optional.

variable "attach_cluster" {
  description = "Add the cluster to the mesh here. Set false when it is already in the mesh, e.g. through alicloud_service_mesh_service_mesh's cluster_ids."
  type        = bool
  default     = true
}

variable "namespace" {
  description = "Namespace for the runtime, the models and the storage-config Secret. ModelMesh serves its own namespace (modelmesh-serving on ASM) and namespaces labelled modelmesh-enabled=true."
  type        = string
  default     = "modelmesh-serving"
}

variable "private_endpoint" {
  description = "Reach the cluster's API server on its internal endpoint (a runner inside the cluster's VPC, or a cluster without a public endpoint)."
  type        = bool
  default     = false
}

variable "oss_endpoint" {
  description = "S3-compatible endpoint of OSS. Null: https://s3.oss-<region>-internal.aliyuncs.com, which the cluster's nodes reach inside the region's network."
  type        = string
  default     = null
}

variable "model_path" {
  description = "Path of the scikit-learn model in the bucket."
  type        = string
  default     = "sklearn/mnist-svm.joblib"
}

variable "runtime_image" {
  description = "MLServer image of the runtime: ModelMesh's mlserver-1.x image, or your own (in ACR) with the same layout."
  type        = string
  default     = "seldonio/mlserver:1.3.2"
}

variable "gateway_name" {
  description = "ASM ingress gateway that exposes the model; it must open port 8008."
  type        = string
  default     = "ingressgateway"
}
