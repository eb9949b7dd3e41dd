#!/usr/bin/env bash
# The local control plane: etcd + kube-apiserver + kube-controller-manager on loopback.
#
#   control-plane.sh start DIR   generate a PKI (once), start all three, wait until ready,
#                                write DIR/kubeconfig; on any failure stop what was started
#   control-plane.sh stop DIR    stop all three and remove etcd's data
#   control-plane.sh status DIR  exit 0 when the API server answers
#
# The controller manager runs only its garbage collector and namespace controller, so owner
# references cascade and namespaces finish deleting as in a real cluster. Ports are picked
# free at start and recorded in DIR, so `make test` and `make up` can run side by side.
#
# With IPAM_NODE_IP set (e2e/bin/cluster.sh sets it to its bridge's address), the control
# plane is the one of a cluster with a node: the API server listens on that address instead
# of loopback (pods reach it there), its certificate also names the `kubernetes` Service's
# cluster IP, it calls webhooks at their endpoints (--enable-aggregator-routing: there is no
# kube-proxy), admits pods with their service account, and kube-scheduler runs beside every
# default controller of kube-controller-manager (Deployments, ReplicaSets, EndpointSlices,
# service accounts, kube-root-ca.crt).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:?usage: control-plane.sh start|stop|status DIR}"
DIR="${2:?usage: control-plane.sh start|stop|status DIR}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PKI="$DIR/pki"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

NODE_IP="${IPAM_NODE_IP:-}"
# The first address of --service-cluster-ip-range: the `kubernetes` Service's cluster IP.
KUBERNETES_SERVICE_IP=10.0.0.1
HOST="${NODE_IP:-127.0.0.1}"

pids() { cat "$DIR"/*.pid 2>/dev/null || true; }

stop() {
  local pid
  for pid in $(pids); do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in $(pids); do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in $(pids); do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$DIR"/*.pid
  rm -rf "$DIR/etcd-data"
}

api_ready() {
  [ -f "$DIR/api-port" ] || return 1
  curl -sf --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$HOST:$(cat "$DIR/api-port")/$1" >/dev/null 2>&1
}

gen_pki() {
  [ -f "$PKI/admin.crt" ] && return 0
  mkdir -p "$PKI"; cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=ipam-testenv-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout ca.key -out ca.crt 2>/dev/null
  local san="IP:127.0.0.1,IP:$KUBERNETES_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
  san+=",DNS:kubernetes.default.svc${NODE_IP:+,IP:$NODE_IP}"
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' "subjectAltName=$san" > server.ext
  openssl req -new -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout apiserver.key -out apiserver.csr 2>/dev/null
  openssl x509 -req -sha256 -days 3650 -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -extfile server.ext -out apiserver.crt 2>/dev/null
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=clientAuth' > client.ext
  # system:masters is granted everything ahead of RBAC: the admin of this throw-away cluster.
  openssl req -new -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=ipam-testenv-admin" \
    -keyout admin.key -out admin.csr 2>/dev/null
  openssl x509 -req -sha256 -days 3650 -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -extfile client.ext -out admin.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  cd - >/dev/null
}

write_kubeconfig() {
  cat > "$DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: ipam-testenv
  cluster:
    server: https://$HOST:$(cat "$DIR/api-port")
    certificate-authority: $PKI/ca.crt
users:
- name: ipam-testenv-admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: ipam-testenv
  context: {cluster: ipam-testenv, user: ipam-testenv-admin}
current-context: ipam-testenv
KC
}

wait_for() { # seconds what check...
  local secs="$1" what="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "control-plane: $what not ready after ${secs}s; last log lines:" >&2
      tail -n 30 "$DIR/$what.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

start() {
  if api_ready readyz; then echo "control-plane: already running ($DIR/kubeconfig)"; return 0; fi
  stop
  local bin
  # KUBEBUILDER_ASSETS, as envtest reads it, points at binaries built elsewhere.
  if [ -n "$NODE_IP" ]; then
    bin="$("$HERE/build-control-plane.sh" kube-scheduler | tail -n 1)"
  else
    bin="${KUBEBUILDER_ASSETS:-$("$HERE/build-control-plane.sh" | tail -n 1)}"
  fi
  gen_pki
  local etcd_port etcd_peer api_port kcm_port scheduler_port
  etcd_port="$(free_port)"; etcd_peer="$(free_port)"; api_port="$(free_port)"; kcm_port="$(free_port)"
  scheduler_port="$(free_port)"
  # Alone, the API server needs no service accounts nor endpoints of its own; with a node,
  # pods reach it through the `kubernetes` Service and it reaches webhooks at their pods.
  local api_mode=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1
    --disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none)
  local kcm_mode=(--controllers=garbage-collector-controller,namespace-controller)
  if [ -n "$NODE_IP" ]; then
    api_mode=(--bind-address="$NODE_IP" --advertise-address="$NODE_IP"
      --enable-aggregator-routing=true
      --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key"
      --kubelet-preferred-address-types=InternalIP)
    kcm_mode=(--controllers='*' --root-ca-file="$PKI/ca.crt"
      --service-account-private-key-file="$PKI/sa.key")
  fi
  echo "$api_port" > "$DIR/api-port"
  trap 'echo "control-plane: start failed, stopping what was started" >&2; stop' ERR

  "$bin/etcd" --name ipam-testenv --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "ipam-testenv=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync=true --log-level=warn >"$DIR/etcd.log" 2>&1 &
  echo $! > "$DIR/etcd.pid"
  wait_for 60 etcd curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$etcd_port/health"

  "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --secure-port="$api_port" "${api_mode[@]}" \
    --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=RBAC \
    --allow-privileged=true \
    --profiling=false >"$DIR/kube-apiserver.log" 2>&1 &
  echo $! > "$DIR/kube-apiserver.pid"
  wait_for 120 kube-apiserver api_ready readyz
  wait_for 60 kube-apiserver api_ready api/v1/namespaces/default
  write_kubeconfig

  "$bin/kube-controller-manager" \
    --kubeconfig="$DIR/kubeconfig" \
    --authentication-kubeconfig="$DIR/kubeconfig" --authorization-kubeconfig="$DIR/kubeconfig" \
    "${kcm_mode[@]}" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$kcm_port" \
    --use-service-account-credentials=false --profiling=false >"$DIR/kube-controller-manager.log" 2>&1 &
  echo $! > "$DIR/kube-controller-manager.pid"
  # /healthz is served without authentication and turns ok once its controllers started.
  wait_for 60 kube-controller-manager curl -skf -o /dev/null --max-time 2 "https://127.0.0.1:$kcm_port/healthz"
  if [ -n "$NODE_IP" ]; then
    "$bin/kube-scheduler" --kubeconfig="$DIR/kubeconfig" \
      --authentication-kubeconfig="$DIR/kubeconfig" --authorization-kubeconfig="$DIR/kubeconfig" \
      --leader-elect=false --bind-address=127.0.0.1 --secure-port="$scheduler_port" \
      --profiling=false >"$DIR/kube-scheduler.log" 2>&1 &
    echo $! > "$DIR/kube-scheduler.pid"
    wait_for 60 kube-scheduler curl -skf -o /dev/null --max-time 2 "https://127.0.0.1:$scheduler_port/healthz"
  fi
  trap - ERR
  echo "control-plane: ready; export KUBECONFIG=$DIR/kubeconfig"
}

case "$cmd" in
  start) start ;;
  stop) stop; echo "control-plane: stopped" ;;
  status) api_ready readyz ;;
  *) echo "usage: control-plane.sh start|stop|status DIR" >&2; exit 2 ;;
esac
