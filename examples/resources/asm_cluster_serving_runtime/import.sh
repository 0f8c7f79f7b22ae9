# A ClusterServingRuntime is imported by its name.
terraform import asm_cluster_serving_runtime.mlserver mlserver-1.x
