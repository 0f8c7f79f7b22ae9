# A ServingRuntime is imported by "<namespace>/<name>", or by "<name>" in the provider's default namespace.
import {
  to = asm_serving_runtime.my_model_server
  id = "modelmesh-serving/my-model-server-0.x"
}
