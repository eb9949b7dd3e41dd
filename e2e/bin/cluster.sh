#!/usr/bin/env bash
# A single-node cluster on this machine, with the operator installed by its chart as the
# README says (`make cluster`, `make cluster-down`; `make test` runs one of its own).
#
#   cluster.sh up DIR      build what is missing, start everything, install the chart, wait
#                          until the operator's pods are Ready; DIR/kubeconfig is the cluster's
#   cluster.sh down DIR    stop everything `up` started and undo what it changed
#
# What runs, all from DIR:
#   - the control plane of e2e/bin/control-plane.sh in its node mode (IPAM_NODE_IP): the API
#     server on the bridge's address, kube-scheduler, every default controller;
#   - containerd (Debian's) with runc (Debian's), its own socket, root and state under DIR;
#   - the kubelet, built from the Go module proxy at the control plane's version
#     (build-control-plane.sh), cgroupfs driver under its own cgroup root /ipam-node-N;
#   - pods on a bridge this script creates (ipam-brN, 10.123.N.1/24; N is derived from DIR so
#     that `make cluster` and `make test` do not collide), wired by Debian's CNI plugins
#     (bridge + host-local). The bridge is not a gateway: pods reach the node and each other,
#     nothing else, and no forwarding or masquerading is switched on;
#   - the pause image: e2e/node/pause.c, static (musl), FROM scratch, built here by buildah;
#   - the operator's image from `make image`, imported into containerd (pullPolicy Never).
#
# Services without kube-proxy: the API server calls the webhook (and the CRDs' conversion
# webhook) at the Service's endpoints (--enable-aggregator-routing), and pods reach the API
# server through the `kubernetes` Service's cluster IP thanks to one DNAT rule in an nftables
# table of this script's own (ipam-nodeN), matching only packets that come in on its bridge.
# Other cluster IPs do not answer; tests reach pods at their IPs, as the node can.
#
# Host settings it changes, and restores on `down`: the kubelet sets the kernel tunables it
# insists on (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1, ...); their
# values before are kept in DIR/sysctl.saved. The kubelet's iptables chains are switched off.
# cgroup v1: this machine's hierarchy is hybrid (v1 controllers, cgroup2 at unified/), which
# kubelet 1.35+ refuses unless failCgroupV1 is false, which is what the kubelet config says.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cmd="${1:?usage: cluster.sh up|down DIR}"
DIR="${2:?usage: cluster.sh up|down DIR}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# One node per DIR: its bridge, subnet, nftables table and cgroup root are numbered from a
# hash of DIR (1-200), so two clusters of two checkouts coexist.
N="$(( $(printf '%s' "$DIR" | cksum | cut -d' ' -f1) % 200 + 1 ))"
BRIDGE="ipam-br$N"
NODE_IP="10.123.$N.1"
POD_SUBNET="10.123.$N.0/24"
NFT_TABLE="ipam-node$N"
CGROUP_ROOT="ipam-node-$N"
NODE_NAME="ipam-node"
# The `kubernetes` Service (control-plane.sh's --service-cluster-ip-range is 10.0.0.0/24).
SERVICE_RANGE="10.0.0.0/24"
KUBERNETES_SERVICE_IP="10.0.0.1"
PAUSE_IMAGE="localhost/ipam-pause:1"
RELEASE=ipam-operator
NAMESPACE=ipam-system
CD="$DIR/containerd"
SOCK="$CD/containerd.sock"
KUBELET_DIR="$DIR/kubelet"
KERNEL_TUNABLES=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

log() { echo "cluster: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1; }

install_packages() {
  local missing=()
  need containerd || missing+=(containerd)
  need runc || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
  need musl-gcc || missing+=(musl-tools)
  need buildah || missing+=(buildah)
  need nft || missing+=(nftables)
  [ "${#missing[@]}" = 0 ] && return 0
  if need apt-get && [ "$(id -u)" = 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    log "missing ${missing[*]}; install them first"; exit 1
  fi
}

# --- what runs -------------------------------------------------------------------------------

wait_for() { # seconds what-log check...
  local secs="$1" what="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$what not ready after ${secs}s; last log lines:"
      tail -n 30 "$DIR/$what.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

kubectl() { "$BIN/kubectl" --kubeconfig "$DIR/kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }

# Seconds to build, so built on every start: never stale.
build_pause_image() {
  local archive="$DIR/pause.oci.tar"
  mkdir -p "$DIR/pause"
  musl-gcc -static -Os -s -o "$DIR/pause/pause" "$ROOT/e2e/node/pause.c"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' \
    > "$DIR/pause/Containerfile"
  buildah build --quiet --format oci --layers=false -f "$DIR/pause/Containerfile" \
    -t "$PAUSE_IMAGE" "$DIR/pause" >/dev/null
  buildah push --quiet "$PAUSE_IMAGE" "oci-archive:$archive.tmp:$PAUSE_IMAGE" >&2
  buildah rmi "$PAUSE_IMAGE" >/dev/null 2>&1 || true
  mv "$archive.tmp" "$archive"
}

create_bridge() {
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    [ "$(cat "$DIR/bridge" 2>/dev/null)" = "$BRIDGE" ] \
      || { log "$BRIDGE exists and is not this cluster's; is another cluster running from a DIR hashing to $N?"; exit 1; }
  else
    if ip route show | grep -q "^10\.123\.$N\."; then
      log "$POD_SUBNET is already routed on this machine"; exit 1
    fi
    ip link add "$BRIDGE" type bridge
    echo "$BRIDGE" > "$DIR/bridge"
    ip addr add "$NODE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
}

dnat_kubernetes_service() {
  local api_port; api_port="$(cat "$DIR/api-port")"
  nft delete table ip "$NFT_TABLE" 2>/dev/null || true
  nft -f - <<NFT
table ip $NFT_TABLE {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$BRIDGE" ip daddr $KUBERNETES_SERVICE_IP tcp dport 443 dnat to $NODE_IP:$api_port
  }
}
NFT
  echo "$NFT_TABLE" > "$DIR/nft-table"
}

write_cni_config() {
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat > "$DIR/cni/net.d/10-ipam-node.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "ipam-node",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": false,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "$DIR/cni/ipam",
      "ranges": [[{"subnet": "$POD_SUBNET", "rangeStart": "10.123.$N.10", "gateway": "$NODE_IP"}]],
      "routes": [{"dst": "$SERVICE_RANGE", "gw": "$NODE_IP"}]
    }
  }]
}
JSON
}

start_containerd() {
  mkdir -p "$CD"
  cat > "$CD/config.toml" <<TOML
version = 2
root = "$CD/root"
state = "$CD/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  netns_mounts_under_state_dir = true
  # Sandboxes ask for oom_score_adj -998, which needs CAP_SYS_RESOURCE; where root lacks it
  # (this kind of machine), runc fails ("failed to update /proc/self/oom_score_adj:
  # Permission denied"). Restricted, no container goes below containerd's own score.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
TOML
  containerd --config "$CD/config.toml" >"$DIR/containerd.log" 2>&1 &
  echo $! > "$DIR/containerd.pid"
  wait_for 30 containerd ctr_ version
}

# The name the container runtime looks an image up by: Docker's rules, as the kubelet's
# image references go through them (ipam-operator:0.1.0 is docker.io/library/ipam-operator:0.1.0).
normalized() {
  local ref="$1" first="${1%%/*}"
  case "$ref" in
    */*) case "$first" in *.*|*:*|localhost) ;; *) ref="docker.io/$ref" ;; esac ;;
    *) ref="docker.io/library/$ref" ;;
  esac
  echo "$ref"
}

import_image() { # archive
  # The archive names its image as buildah was told (a short name); it is tagged with the
  # normalized name too, the one the kubelet's requests resolve to.
  local name
  name="$(ctr_ images import "$1" | sed -n 's/^unpacking \([^ ]*\) (.*/\1/p' | head -n 1)"
  [ -n "$name" ] || { log "importing $1 gave no named image"; exit 1; }
  [ "$(normalized "$name")" = "$name" ] || ctr_ images tag --force "$name" "$(normalized "$name")" >/dev/null
}

start_kubelet() {
  local port healthz_port
  port="$(free_port)"; healthz_port="$(free_port)"
  mkdir -p "$KUBELET_DIR/root" "$KUBELET_DIR/pod-logs"
  # The kubelet wants its cgroup root to exist, in every v1 hierarchy and in cgroup2's.
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -f "$hierarchy/cgroup.procs" ] && mkdir -p "$hierarchy$CGROUP_ROOT"
  done
  echo "$CGROUP_ROOT" > "$DIR/cgroup-root"
  if [ ! -f "$DIR/sysctl.saved" ]; then
    local key
    for key in "${KERNEL_TUNABLES[@]}"; do echo "$key=$(sysctl -n "$key")"; done > "$DIR/sysctl.saved"
  fi
  cat > "$KUBELET_DIR/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine's cgroups are v1 (hybrid); see the header of e2e/bin/cluster.sh.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix://$SOCK
address: $NODE_IP
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
podLogsDir: $KUBELET_DIR/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: AlwaysAllow}
# No chains in the host's iptables: nothing here uses them.
makeIPTablesUtilChains: false
# A shared disk filling up must not evict the operator nor collect its imported image.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
  # The admin's credentials: this throw-away cluster has no node authorizer.
  "$BIN/kubelet" --config="$KUBELET_DIR/config.yaml" --kubeconfig="$DIR/kubeconfig" \
    --root-dir="$KUBELET_DIR/root" --cert-dir="$KUBELET_DIR/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" >"$DIR/kubelet.log" 2>&1 &
  echo $! > "$DIR/kubelet.pid"
  wait_for 60 kubelet curl -sf --max-time 2 "http://127.0.0.1:$healthz_port/healthz"
  wait_for 120 kubelet kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

install_chart() {
  # The Cluster API kinds the operator serves, as Cluster API installs them in a management
  # cluster (the chart installs only the operator's own CRDs).
  kubectl apply --server-side -f "$ROOT/e2e/fixtures/capi/" >/dev/null
  # (kubectl wait errs out, rather than waits, on a CRD whose status is not written yet.)
  wait_for 60 kube-apiserver kubectl wait --for condition=established --timeout=5s \
    -f "$ROOT/e2e/fixtures/capi/"
  # README, "On a local cluster": the chart's default tag is the image's (its appVersion);
  # the image was imported, never to be pulled.
  "$BIN/helm" --kubeconfig "$DIR/kubeconfig" install "$RELEASE" "$ROOT/charts/ipam-operator" \
    -n "$NAMESPACE" --create-namespace \
    --set image.repository=ipam-operator --set image.pullPolicy=Never >&2
  if ! kubectl -n "$NAMESPACE" rollout status "deployment/$RELEASE" --timeout=180s >&2; then
    kubectl -n "$NAMESPACE" get pods -o wide >&2 || true
    kubectl -n "$NAMESPACE" describe pods >&2 || true
    return 1
  fi
}

up() {
  if kill -0 "$(cat "$DIR/kubelet.pid" 2>/dev/null)" 2>/dev/null; then
    log "already running: export KUBECONFIG=$DIR/kubeconfig"; return 0
  fi
  install_packages
  BIN="$("$HERE/build-control-plane.sh" kube-scheduler kubelet | tail -n 1)"
  local archive="${IPAM_IMAGE_ARCHIVE:-}"
  [ -n "$archive" ] || archive="$("$HERE/build-image.sh" | tail -n 1)"
  build_pause_image
  trap 'log "start failed, stopping what was started"; down' ERR
  create_bridge
  IPAM_NODE_IP="$NODE_IP" "$HERE/control-plane.sh" start "$DIR" >&2
  dnat_kubernetes_service
  write_cni_config
  start_containerd
  import_image "$DIR/pause.oci.tar"
  import_image "$archive"
  start_kubelet
  install_chart
  trap - ERR
  log "ready: export KUBECONFIG=$DIR/kubeconfig; kubectl and helm are in $BIN"
}

# --- undoing it ------------------------------------------------------------------------------

stop_pid() { # name
  local pid; pid="$(cat "$DIR/$1.pid" 2>/dev/null)" || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$DIR/$1.pid"
}

# The shims of this containerd outlive it; they name its socket on their command line.
our_shims() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "-address $SOCK " && echo "${p#/proc/}"
  done
  return 0
}

down() {
  stop_pid kubelet
  if [ -S "$SOCK" ] && ctr_ version >/dev/null 2>&1; then
    local task
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$task" 2>/dev/null || true; done
    sleep 1
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$task" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  local pid
  for pid in $(our_shims); do kill -9 "$pid" 2>/dev/null || true; done
  # Everything mounted under DIR (containers' root filesystems, pods' volumes and network
  # namespaces), deepest first; a network namespace goes, with its veth, once unmounted.
  local mnt
  for mnt in $(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
  # The pods' cgroups, then the root they were under.
  if [ -f "$DIR/cgroup-root" ]; then
    local hierarchy
    for hierarchy in /sys/fs/cgroup/*/; do
      [ -d "$hierarchy$(cat "$DIR/cgroup-root")" ] || continue
      find "$hierarchy$(cat "$DIR/cgroup-root")" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    rm -f "$DIR/cgroup-root"
  fi
  # The kubelet links every container's log into /var/log/containers; ours point under DIR.
  local link
  for link in /var/log/containers/*; do
    [ -L "$link" ] && case "$(readlink "$link")" in "$KUBELET_DIR"/*) rm -f "$link" ;; esac
  done
  if [ -f "$DIR/nft-table" ]; then
    nft delete table ip "$(cat "$DIR/nft-table")" 2>/dev/null || true
    rm -f "$DIR/nft-table"
  fi
  if [ -f "$DIR/bridge" ]; then
    ip link delete "$(cat "$DIR/bridge")" 2>/dev/null || true
    rm -f "$DIR/bridge"
  fi
  if [ -f "$DIR/sysctl.saved" ]; then
    sysctl -q -p "$DIR/sysctl.saved" >/dev/null || log "could not restore every setting of $DIR/sysctl.saved"
    rm -f "$DIR/sysctl.saved"
  fi
  "$HERE/control-plane.sh" stop "$DIR" >/dev/null
  rm -rf "$CD" "$KUBELET_DIR" "$DIR/cni"
}

case "$cmd" in
  up) up ;;
  down) down; log "stopped" ;;
  *) echo "usage: cluster.sh up|down DIR" >&2; exit 2 ;;
esac
