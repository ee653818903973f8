#!/usr/bin/env bash
# make e2e-kind: the chart's lab scenarios on a kind cluster, for people with Docker.
#
# Creates a kind cluster, builds the project's images from images/*/Dockerfile, loads them into
# the cluster (kind load docker-image), and runs the same scenario files `make e2e` runs on the
# bench's node (test/e2e/operator-labs.test.ts, test/e2e/chart.test.ts), which install the chart
# themselves. Only the bring-up differs (test/support/kind-cluster.ts behind
# PILOTFISH_CLUSTER_PROVIDER=kind). Linux only: the tests reach NodePorts on the kind node's
# container address, which macOS and Windows do not route to.
#
# NOT RUN where it was written (no Docker on that machine): see test/e2e/README.md.
#
# Needs: docker, kind, kubectl, helm, node >= 20 with `npm ci` done, and the labs beside the
# clone (LABS_DIR, default ../shared/labs). KEEP_CLUSTER=1 leaves the cluster running.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster="${KIND_CLUSTER_NAME:-pilotfish-e2e}"
export LABS_DIR="${LABS_DIR:-$(cd .. && pwd)/shared/labs}"

for tool in docker kind kubectl helm node; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool not found on PATH" >&2; exit 2; }
done

version="$(node -p 'require("./package.json").version')"
envoy="$(sed -n 's/^ENVOY_VERSION=//p' scripts/testenv.sh)"
# The references the chart and the tests use (scripts/images/specs.ts).
images=(
  "pilotfish/operator:${version} images/operator/Dockerfile ."
  "pilotfish/proxy:${envoy} images/proxy/Dockerfile images/proxy"
  "pilotfish/proxy-init:${version} images/proxy-init/Dockerfile images/proxy-init"
  "pilotfish/test-upstream:${version} images/test-upstream/Dockerfile ."
)

work="$(mktemp -d)"
cleanup() {
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then kind delete cluster --name "$cluster" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

started=$SECONDS
for entry in "${images[@]}"; do
  read -r reference dockerfile context <<<"$entry"
  echo "e2e-kind: docker build $reference"
  docker build -q -t "$reference" -f "$dockerfile" "$context" >/dev/null
done
echo "e2e-kind: images built in $((SECONDS - started)) s"

# One fresh cluster per file, as the bench gives each file its own node: the files install the
# chart and leave what they installed.
status=0
for file in test/e2e/operator-labs.test.ts test/e2e/chart.test.ts; do
  started=$SECONDS
  kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  kind create cluster --name "$cluster" --wait 120s
  for entry in "${images[@]}"; do
    read -r reference _ <<<"$entry"
    kind load docker-image "$reference" --name "$cluster"
  done
  echo "e2e-kind: cluster up and images loaded in $((SECONDS - started)) s"

  # What test/support/kind-cluster.ts reads.
  node_name="${cluster}-control-plane"
  kind get kubeconfig --name "$cluster" >"$work/kubeconfig"
  echo "$node_name" >"$work/node-name"
  docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$node_name" >"$work/node-ip"
  # The tests call the bench's kubectl and helm (test/support/paths.ts): the user's, here.
  mkdir -p "$work/bench/bin"
  ln -sf "$(command -v kubectl)" "$work/bench/bin/kubectl"
  ln -sf "$(command -v helm)" "$work/bench/bin/helm"

  PILOTFISH_CLUSTER_PROVIDER=kind PILOTFISH_KIND_DIR="$work" PILOTFISH_BENCH_DIR="$work/bench" \
    node --import tsx --test --test-reporter=spec "$file" || status=1
done
exit "$status"
