# A ServingRuntime is imported by "<namespace>/<name>", or by "<name>" in the provider's default namespace.
terraform import asm_serving_runtime.my_model_server modelmesh-serving/my-model-server-0.x
