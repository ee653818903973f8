#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, without Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd + runc, kubelet, kube-proxy, CNI bridge.
#
#   node.sh up DIR [IMAGE.tar ...]   start it with every piece of state under DIR; import images
#   node.sh down DIR                 stop it and undo every host change it made
#   node.sh logs DIR [COMPONENT]     print component logs (all, or one: kubelet, containerd, ...)
#
# The tools come from scripts/testenv.sh (the bench). Needs root. Addresses come from the
# benchmarking block (RFC 2544), never private ranges: the node IP 198.19.127.1 sits on a bridge
# of its own, pods get 198.19.128.0/17 with routes only to the service range and the node IP,
# Services 198.18.0.0/20, and forwarded traffic from pods to anything outside 198.18.0.0/15 is
# dropped, so nothing a pod sends leaves the machine.
#
# Host changes that `down` undoes (docs/architecture.md lists them): the bridges pf-node0 and
# pf-cni0; KUBE-* and CNI-* iptables chains and one FORWARD rule; the sysctls the kubelet and
# the bridge plugin set (restored to the values seen at `up`); mounts under DIR; kubelet's and
# CNI's fixed paths (/var/lib/kubelet, /var/log/containers, /var/log/pods, /var/lib/cni,
# /run/containerd, /var/run/nri, /opt/containerd, /usr/libexec/kubernetes) when `up` created them;
# the empty kubepods and k8s.io cgroups.
set -euo pipefail

NODE_NAME=pilotfish-node
NODE_IP=198.19.127.1
NODE_BRIDGE=pf-node0
POD_CIDR=198.19.128.0/17
POD_GATEWAY=198.19.128.1
POD_BRIDGE=pf-cni0
# /20: room for 4,094 Services (bench/scale.ts applies 1,000 Services; a /24 ran out at 252).
SERVICE_CIDR=198.18.0.0/20
SERVICE_FIRST_IP=198.18.0.1
BENCH_CIDR=198.18.0.0/15
APISERVER_PORT=16443
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
PAUSE_IMAGE=docker.io/pilotfish/pause:1
# Paths the kubelet, containerd and CNI use whatever their flags say.
FIXED_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /var/run/nri /opt/containerd /usr/libexec/kubernetes)
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward)
FORWARD_RULE=(FORWARD -s "$POD_CIDR" ! -d "$BENCH_CIDR" -m comment --comment pilotfish-node -j DROP)

bench=${PILOTFISH_BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pilotfish-bench}
bin=$bench/bin
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[node] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now_ms() { date +%s%3N; }

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

# Starts a component in its own session (so `make cluster` outlives the shell), output to a log
# file, PID recorded for `down`.
start() {
  local name=$1; shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name"
}

# Waits until COMMAND succeeds, failing with the component's log tail after SECONDS.
wait_until() {
  local what=$1 seconds=$2 component=$3; shift 3
  local deadline=$(($(date +%s) + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out after ${seconds}s waiting for $what; last lines of $component.log:"
      tail -n 40 "$dir/logs/$component.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

phase() { local t; t=$(now_ms); log "$(printf '%-34s %6.2fs' "$1" "$(awk -v a="$t" -v b="$t0" 'BEGIN{print (a-b)/1000}')")"; }

kubectl() { "$bin/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }
ctr() { "$bin/ctr" --address "$dir/containerd/containerd.sock" --namespace k8s.io "$@"; }

render() { sed -e "s|@DIR@|$dir|g" -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@POD_CIDR@|$POD_CIDR|g" \
  -e "s|@POD_GATEWAY@|$POD_GATEWAY|g" -e "s|@POD_BRIDGE@|$POD_BRIDGE|g" -e "s|@SERVICE_CIDR@|$SERVICE_CIDR|g" \
  -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" "$1" >"$2"; }

make_pki() {
  local pki=$dir/pki
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pilotfish-node-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:%s,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
    "$SERVICE_FIRST_IP" "$NODE_IP" >"$pki/apiserver.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  local admin kubelet
  admin=$(openssl rand -hex 24) kubelet=$(openssl rand -hex 24)
  printf '%s,pilotfish-node-admin,admin,"system:masters"\n%s,system:node:%s,kubelet,"system:nodes"\n' \
    "$admin" "$kubelet" "$NODE_NAME" >"$pki/tokens.csv"
  kubeconfig "$dir/kubeconfig" "$admin" admin
  kubeconfig "$dir/kubelet.kubeconfig" "$kubelet" kubelet
}

kubeconfig() {
  local out=$1 token=$2 user=$3
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pilotfish-node
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$dir/pki/ca.crt")
users:
- name: $user
  user:
    token: $token
contexts:
- name: pilotfish-node
  context: {cluster: pilotfish-node, user: $user}
current-context: pilotfish-node
EOF
}

record_host_state() {
  : >"$dir/host/sysctls"
  local name path
  for name in "${SYSCTLS[@]}"; do echo "$name=$(sysctl -n "$name")" >>"$dir/host/sysctls"; done
  : >"$dir/host/created-paths"
  for path in "${FIXED_PATHS[@]}"; do [ -e "$path" ] || echo "$path" >>"$dir/host/created-paths"; done
}

up() {
  [ "$(id -u)" = 0 ] || die "the node needs root (network bridges, iptables, mounts, cgroups)"
  for tool in kube-apiserver etcd kubectl kubelet kube-scheduler kube-controller-manager kube-proxy containerd ctr; do
    [ -x "$bin/$tool" ] || die "$tool is not installed in $bin: run 'make testenv' first"
  done
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    die "a node is already running on this machine ($NODE_BRIDGE exists): 'make cluster-down' or 'scripts/node.sh down DIR' first"
  fi
  t0=$(now_ms)
  mkdir -p "$dir"/{pids,logs,host,containerd,cni/net.d,kubelet/manifests,etcd}
  record_host_state
  make_pki
  phase "pki"

  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  iptables -I "${FORWARD_RULE[@]}"

  render "$here/node/containerd.toml" "$dir/containerd/config.toml"
  render "$here/node/cni.conflist" "$dir/cni/net.d/10-pilotfish.conflist"
  render "$here/node/kubelet.yaml" "$dir/kubelet/config.yaml"

  start etcd "$bin/etcd" --name=node --data-dir="$dir/etcd/data" \
    --listen-client-urls=http://127.0.0.1:$ETCD_CLIENT_PORT --advertise-client-urls=http://127.0.0.1:$ETCD_CLIENT_PORT \
    --listen-peer-urls=http://127.0.0.1:$ETCD_PEER_PORT --initial-advertise-peer-urls=http://127.0.0.1:$ETCD_PEER_PORT \
    --initial-cluster=node=http://127.0.0.1:$ETCD_PEER_PORT --unsafe-no-fsync --log-level=warn
  # containerd finds its shim on PATH.
  start containerd env PATH="$bin/containerd.d:$PATH" "$bin/containerd" --config "$dir/containerd/config.toml"
  start kube-apiserver "$bin/kube-apiserver" --etcd-servers=http://127.0.0.1:$ETCD_CLIENT_PORT \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=$APISERVER_PORT \
    --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" --token-auth-file="$dir/pki/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --kubelet-preferred-address-types=InternalIP --profiling=false
  wait_until "containerd" 60 containerd ctr version
  phase "containerd ready"
  local image
  # ctr warns on every call that cgroup v1 is deprecated: true, and not news.
  for image in "$@"; do ctr images import "$image" 2>&1 >/dev/null | { grep -v 'support for cgroup v1 is deprecated' || true; } >&2; done
  phase "images imported ($#)"
  wait_until "kube-apiserver /readyz" 120 kube-apiserver kubectl get --raw /readyz
  phase "apiserver ready"

  local admin=$dir/kubeconfig
  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$admin" \
    --authentication-kubeconfig="$admin" --authorization-kubeconfig="$admin" --leader-elect=false --secure-port=0 \
    --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt" \
    --service-cluster-ip-range="$SERVICE_CIDR" --use-service-account-credentials=false \
    --controllers='*,-bootstrapsigner,-tokencleaner' --flex-volume-plugin-dir="$dir/kubelet/flex"
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$admin" --authentication-kubeconfig="$admin" \
    --authorization-kubeconfig="$admin" --leader-elect=false --secure-port=0
  start kubelet "$bin/kubelet" --config="$dir/kubelet/config.yaml" --kubeconfig="$dir/kubelet.kubeconfig" \
    --root-dir="$dir/kubelet/root" --cert-dir="$dir/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  # kube-proxy cannot set conntrack limits here (no CAP_SYS_RESOURCE): leave them as they are.
  start kube-proxy "$bin/kube-proxy" --kubeconfig="$admin" --hostname-override="$NODE_NAME" --proxy-mode=iptables \
    --cluster-cidr="$POD_CIDR" --bind-address="$NODE_IP" --healthz-bind-address=127.0.0.1:10256 \
    --metrics-bind-address=127.0.0.1:10249 --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
    --conntrack-tcp-timeout-close-wait=0 --iptables-localhost-nodeports=false --nodeport-addresses="$NODE_IP/32"
  wait_until "node $NODE_NAME Ready" 120 kubelet node_ready
  phase "node ready"
  wait_until "the default ServiceAccount and kube-root-ca.crt" 60 kube-controller-manager \
    bash -c "'$bin/kubectl' --kubeconfig '$admin' get sa default >/dev/null && '$bin/kubectl' --kubeconfig '$admin' get cm kube-root-ca.crt"
  phase "cluster ready"
  echo "$NODE_IP" >"$dir/node-ip"
}

node_ready() {
  [ "$(kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# Stops the process whose PID file is pids/NAME: SIGTERM, then SIGKILL after `grace` seconds
# (0: SIGKILL at once).
stop() {
  local file=$dir/pids/$1 grace=${2:-10} pid i
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ "$grace" = 0 ]; then
    kill -9 "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  elif kill "$pid" 2>/dev/null; then
    for ((i = 0; i < grace * 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  [ -d "$dir" ] || { log "nothing to stop: $dir does not exist"; return 0; }
  t0=$(now_ms)
  # Each takes ~2 s to exit on SIGTERM: stop the apiserver's clients together (the kubelet among
  # them, so it restarts nothing while the containers go), then the apiserver, then etcd
  # (the other way round the apiserver waits ~30 s for etcd). etcd's data is thrown away.
  stop kubelet & stop kube-proxy & stop kube-scheduler & stop kube-controller-manager & wait
  stop kube-apiserver
  stop etcd 0
  phase "control plane stopped"
  if [ -f "$dir/pids/containerd" ]; then
    local task container sandbox
    for task in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
    for task in $(ctr tasks ls -q 2>/dev/null); do ctr tasks delete -f "$task" >/dev/null 2>&1 || true; done
    for container in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$container" >/dev/null 2>&1 || true; done
    stop containerd
  fi
  # Shims whose containerd is gone exit on their own; any left over belong to this node.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $dir/" 2>/dev/null || true
  phase "containers stopped"

  [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local table rule chain
  for table in filter nat mangle; do
    { iptables -t "$table" -S | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*(KUBE-|CNI-)' || true; } |
      sed 's/^-A/-D/' | while read -r rule; do eval iptables -t "$table" "$rule" || true; done
    for chain in $(iptables -t "$table" -S | awk '/^-N (KUBE-|CNI-)/{print $2}'); do iptables -t "$table" -F "$chain"; done
    for chain in $(iptables -t "$table" -S | awk '/^-N (KUBE-|CNI-)/{print $2}'); do iptables -t "$table" -X "$chain" || true; done
  done
  while iptables -D "${FORWARD_RULE[@]}" 2>/dev/null; do :; done
  # Network namespaces of pods (under containerd's state dir), volumes and overlays under DIR.
  unmount_under "$dir"
  ip link del "$POD_BRIDGE" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  if [ -f "$dir/host/sysctls" ]; then
    local setting
    while read -r setting; do sysctl -q -w "$setting" >/dev/null || true; done <"$dir/host/sysctls"
  fi
  if [ -f "$dir/host/created-paths" ]; then
    local path
    while read -r path; do
      unmount_under "$path"
      rm -rf "$path"
    done <"$dir/host/created-paths"
  fi
  local cgroup
  for cgroup in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/unified/kubepods /sys/fs/cgroup/unified/k8s.io; do
    [ -d "$cgroup" ] && find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  phase "host restored"
  rm -rf "$dir"
}

# Lazily unmounts every mount below $1, deepest first.
unmount_under() {
  local mount
  { grep -o " $1/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
}

logs() {
  local component=${1:-}
  if [ -n "$component" ]; then cat "$dir/logs/$component.log"; return; fi
  for file in "$dir"/logs/*.log; do printf '===== %s =====\n' "$(basename "$file" .log)"; tail -n 200 "$file"; done
}

[ $# -ge 2 ] || usage
command=$1 dir=$(realpath -m "$2"); shift 2
case $command in
  up) up "$@" ;;
  down) down ;;
  logs) logs "$@" ;;
  *) usage ;;
esac
