# An S3-compatible storage (here MinIO) as the key "localMinIO" of the storage-config Secret.
resource "asm_model_storage" "local_minio" {
  name      = "localMinIO"
  namespace = "modelmesh-serving"
  type      = "s3"

  s3 {
    access_key_id     = var.minio_access_key_id
    secret_access_key = var.minio_secret_access_key
    endpoint_url      = "http://minio.modelmesh-serving:9000"
    bucket            = "modelmesh-example-models"
    region            = "us-south"
  }
}

# An OSS bucket through OSS's S3-compatible endpoint (public form; s3.oss-<region>-internal.aliyuncs.com
# from inside the region). The key pair is a RAM user's that may read the bucket.
resource "asm_model_storage" "oss" {
  name      = "oss"
  namespace = "modelmesh-serving"
  type      = "s3"

  s3 {
    access_key_id     = var.oss_access_key_id
    secret_access_key = var.oss_access_key_secret
    endpoint_url      = "https://s3.oss-cn-hangzhou.aliyuncs.com"
    bucket            = "my-models"
    region            = "cn-hangzhou"
  }
}

# Other storage types take their fields as JSON; each key is owned by its own resource.
resource "asm_model_storage" "gcs" {
  name        = "gcsModels"
  namespace   = "modelmesh-serving"
  type        = "gcs"
  config_json = jsonencode({ private_key = var.gcs_private_key })
}

variable "minio_access_key_id" {
  type = string
}

variable "minio_secret_access_key" {
  type      = string
  sensitive = true
}

variable "oss_access_key_id" {
  type = string
}

variable "oss_access_key_secret" {
  type      = string
  sensitive = true
}

variable "gcs_private_key" {
  type      = string
  sensitive = true
}
