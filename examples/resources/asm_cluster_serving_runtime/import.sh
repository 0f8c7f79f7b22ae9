# A ClusterServingRuntime is imported by its name.
terraform import asm_cluster_serving_runtime.my_model_server my-model-server-0.x
