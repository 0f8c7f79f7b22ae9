# An InferenceService is imported by "<namespace>/<name>".
import {
  to = asm_inference_service.my_model_sample
  id = "modelmesh-serving/my-model-sample"
}
