# An InferenceService is imported by "<namespace>/<name>".
terraform import asm_inference_service.my_model_sample modelmesh-serving/my-model-sample
