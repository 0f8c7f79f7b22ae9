# A storage key is imported by "<namespace>/<secret_name>/<key>".
terraform import asm_model_storage.local_minio modelmesh-serving/storage-config/localMinIO
