# The runtimes of one team in the namespace, by name.
data "asm_serving_runtimes" "vision" {
  namespace      = "modelmesh-serving"
  label_selector = "team=vision"
}

output "vision_runtime_images" {
  value = { for rt in data.asm_serving_runtimes.vision.items : rt.name => [for c in rt.containers : c.image] }
}
