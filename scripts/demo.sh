#!/usr/bin/env bash
# make demo: build the provider, start the sandbox, apply examples/quickstart, show the result,
# then destroy and stop (DEMO_KEEP=1 leaves everything running). DEMO_EXAMPLE picks another example
# folder (demo-old-mesh uses examples/old-mesh, which is meant to fail at plan); when the sandbox
# writes variables for it (<sandbox>/<folder name>.tfvars, such as quickstart-real's), they are
# the only change to the example. DEMO_ISVC (namespace/name) is the model shown. With --sandbox
# (make sandbox) it starts the sandbox, says how to use it with the provider built here, and runs
# until Ctrl-C. The CLI and the control plane are what the machine has, else built once: see
# scripts/find-tools.sh; the first two lines of output say which and why.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sandbox_only=
if [ "${1:-}" = --sandbox ]; then sandbox_only=1; fi
example=${DEMO_EXAMPLE:-examples/quickstart}
isvc=${DEMO_ISVC:-modelmesh-serving/my-model-sample}
version=$(cat VERSION)
sandbox_pid=

# shellcheck source=scripts/find-tools.sh
source scripts/find-tools.sh
terraform=$(find_terraform)
assets=$(find_control_plane)
cli=$(basename "$terraform")

work=$(mktemp -d /tmp/asm-demo-XXXXXX)
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

step "building the provider and the sandbox; the ModelMesh controller and KWOK (built once, cached)"
modelmesh_assets=$(tools/modelmesh/build.sh)
# shellcheck source=scripts/local-provider.sh
source scripts/local-provider.sh
install_local_provider "$work" "$version"
go build -o "$work/asm-sandbox" ./cmd/asm-sandbox

if [ -n "$sandbox_only" ]; then
  step "starting the sandbox (Ctrl-C stops it)"
  echo "To use the provider built from this checkout with $terraform, also:"
  echo
  echo "export TF_CLI_CONFIG_FILE=$work/terraformrc"
  echo
  # In the foreground: Ctrl-C reaches it, it stops what it started, and then this script cleans up.
  KUBEBUILDER_ASSETS=$assets MODELMESH_ASSETS=$modelmesh_assets "$work/asm-sandbox" -dir "$work/sandbox"
  exit
fi

step "starting the sandbox"
KUBEBUILDER_ASSETS=$assets MODELMESH_ASSETS=$modelmesh_assets "$work/asm-sandbox" -dir "$work/sandbox" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 360); do
  [ -f "$work/sandbox/env.sh" ] && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.log"; exit 1; }
  sleep 0.5
done
sed -n '/asm-sandbox is up/,/^  plane/p' "$work/sandbox.log"
# shellcheck disable=SC1091
source "$work/sandbox/env.sh"

cp -r "$root/$example" "$work/config"
cp -r "$root/examples/modules" "$work/modules" 2>/dev/null || true
# An *.auto.tfvars file is read by every command, plan and destroy included.
vars="$work/sandbox/$(basename "$example").tfvars"
if [ -f "$vars" ]; then
  cp "$vars" "$work/config/sandbox.auto.tfvars"
  step "variables from the sandbox ($(basename "$vars")); the example is otherwise unchanged"
  sed 's/^/  /' "$vars"
fi
tf() { "$terraform" -chdir="$work/config" "$@"; }

step "$cli init"
tf init -input=false -no-color >"$work/init.log" || { cat "$work/init.log"; exit 1; }
grep -E "Installed|successfully" "$work/init.log"

step "$cli apply"
tf apply -auto-approve -input=false

step "outputs"
tf output

step "kubectl get inferenceservice ${isvc#*/} -n ${isvc%%/*} (status as the ModelMesh controller wrote it)"
"$work/asm-sandbox" get-isvc -n "${isvc%%/*}" "${isvc#*/}"

step "$cli plan -detailed-exitcode (infra CI relies on an empty plan after apply)"
tf plan -detailed-exitcode -input=false -no-color | tail -1

if [ "${DEMO_KEEP:-}" = 1 ]; then
  step "DEMO_KEEP=1: leaving the sandbox (pid $sandbox_pid) and $work/config in place"
  echo "source $work/sandbox/env.sh; export TF_CLI_CONFIG_FILE=$work/terraformrc; cd $work/config; $terraform plan"
  trap - EXIT
  exit 0
fi

step "$cli destroy"
tf destroy -auto-approve -input=false -no-color | grep -E "Destroy complete|Error"
