#!/usr/bin/env bash
# make demo: build the provider, start the sandbox, apply examples/quickstart, show the result,
# then destroy and stop (DEMO_KEEP=1 leaves everything running). DEMO_EXAMPLE picks another example
# folder (demo-old-mesh uses examples/old-mesh, which is meant to fail at plan).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
example=${DEMO_EXAMPLE:-examples/quickstart}
cache=${CACHE:-$HOME/.cache/terraform-provider-asm}
terraform=${TERRAFORM:-$cache/terraform-v1.5.7/terraform}
work=$(mktemp -d /tmp/asm-demo-XXXXXX)
version=0.0.1
sandbox_pid=

cleanup() {
  status=$?
  if [ -n "$sandbox_pid" ] && [ "${DEMO_KEEP:-}" != 1 ]; then
    kill -INT "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  [ "${DEMO_KEEP:-}" = 1 ] || rm -rf "$work"
  exit $status
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "building the provider, terraform and the control plane (first run builds from pinned modules: see README)"
make -s "$terraform" TF_VERSION=v1.5.7 >/dev/null
assets=$(tools/k8s/build.sh)
modelmesh_assets=$(tools/modelmesh/build.sh)
# shellcheck source=scripts/local-provider.sh
source scripts/local-provider.sh
install_local_provider "$work" "$version"
go build -o "$work/asm-sandbox" ./cmd/asm-sandbox

step "starting the sandbox"
KUBEBUILDER_ASSETS=$assets MODELMESH_ASSETS=$modelmesh_assets "$work/asm-sandbox" -dir "$work/sandbox" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 360); do
  [ -f "$work/sandbox/env.sh" ] && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.log"; exit 1; }
  sleep 0.5
done
sed -n '/asm-sandbox is up/,/^  Kubernetes/p' "$work/sandbox.log"
# shellcheck disable=SC1091
source "$work/sandbox/env.sh"

cp -r "$root/$example" "$work/config"
cp -r "$root/examples/modules" "$work/modules" 2>/dev/null || true
tf() { "$terraform" -chdir="$work/config" "$@"; }

step "terraform init"
tf init -input=false -no-color >"$work/init.log" || { cat "$work/init.log"; exit 1; }
grep -E "Installed|successfully" "$work/init.log"

step "terraform apply"
tf apply -auto-approve -input=false

step "outputs"
tf output

step "kubectl get inferenceservice my-model-sample -n modelmesh-serving (status as the ModelMesh controller wrote it)"
"$work/asm-sandbox" get-isvc -n modelmesh-serving my-model-sample

step "terraform plan -detailed-exitcode (infra CI relies on an empty plan after apply)"
tf plan -detailed-exitcode -input=false -no-color | tail -1

if [ "${DEMO_KEEP:-}" = 1 ]; then
  step "DEMO_KEEP=1: leaving the sandbox (pid $sandbox_pid) and $work/config in place"
  echo "source $work/sandbox/env.sh; export TF_CLI_CONFIG_FILE=$work/terraformrc; cd $work/config"
  trap - EXIT
  exit 0
fi

step "terraform destroy"
tf destroy -auto-approve -input=false -no-color | grep -E "Destroy complete|Error"
