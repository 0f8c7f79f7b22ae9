# A storage key is imported by "<namespace>/<secret_name>/<key>".
import {
  to = asm_model_storage.local_minio
  id = "modelmesh-serving/storage-config/localMinIO"
}
