# A ClusterServingRuntime is imported by its name.
import {
  to = asm_cluster_serving_runtime.my_model_server
  id = "my-model-server-0.x"
}
