#!/usr/bin/env bash
# `make up`, `make down`, `make demo`: a local control plane with the operator running
# against it, for trying things by hand. Everything lives under target/dev.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DEV="$ROOT/target/dev"
mkdir -p "$DEV"
# The operator serves its admission webhook here; the API server, on loopback too, calls it.
WEBHOOK_PORT="${IPAM_WEBHOOK_PORT:-9443}"
WEBHOOK_CERTS="$DEV/webhook-certs"

kubectl() { "$(cat "$DEV/bin-dir")/kubectl" --kubeconfig "$DEV/kubeconfig" "$@"; }

up() {
  e2e/bin/tools.sh > "$DEV/bin-dir"
  cargo build --locked --bin ipam-operator
  e2e/bin/control-plane.sh start "$DEV/control-plane"
  cp "$DEV/control-plane/kubeconfig" "$DEV/kubeconfig"
  kubectl apply --server-side -f crds/ >/dev/null
  kubectl wait --for condition=established --timeout=60s -f crds/ >/dev/null
  stop_operator
  KUBECONFIG="$DEV/kubeconfig" nohup ./target/debug/ipam-operator run \
    --webhook-port "$WEBHOOK_PORT" --webhook-cert-dir "$WEBHOOK_CERTS" >"$DEV/operator.log" 2>&1 &
  echo $! > "$DEV/operator.pid"
  wait_for_webhook
  register_webhook
  echo "up: control plane and operator running, pool webhook on https://127.0.0.1:$WEBHOOK_PORT"
  echo "    export KUBECONFIG=$DEV/kubeconfig; kubectl is $(cat "$DEV/bin-dir")/kubectl"
  echo "    operator log: $DEV/operator.log"
}

# The operator writes ca.crt (generating a certificate on its first start) before it
# listens; any HTTP answer over TLS that trusts that CA means it serves.
wait_for_webhook() {
  local pid
  pid="$(cat "$DEV/operator.pid")"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { cat "$DEV/operator.log" >&2; exit 1; }
    if [ -f "$WEBHOOK_CERTS/ca.crt" ] && curl -s -o /dev/null --max-time 2 \
      --cacert "$WEBHOOK_CERTS/ca.crt" "https://127.0.0.1:$WEBHOOK_PORT/"; then
      return 0
    fi
    sleep 0.2
  done
  echo "the operator's webhook does not answer on port $WEBHOOK_PORT; its log:" >&2
  tail -n 20 "$DEV/operator.log" >&2
  exit 1
}

# The upstream's webhook names and paths, called by URL since the operator runs outside
# the cluster.
register_webhook() {
  local ca
  ca="$(base64 -w0 < "$WEBHOOK_CERTS/ca.crt")"
  webhook() { # kind resource
    cat <<YAML
- name: validation.$1.ipam.cluster.x-k8s.io
  clientConfig:
    url: https://127.0.0.1:$WEBHOOK_PORT/validate-ipam-cluster-x-k8s-io-v1alpha2-$1
    caBundle: $ca
  rules:
  - apiGroups: [ipam.cluster.x-k8s.io]
    apiVersions: [v1alpha2]
    operations: [CREATE, UPDATE, DELETE]
    resources: [$2]
  failurePolicy: Fail
  matchPolicy: Equivalent
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
YAML
  }
  {
    printf '%s\n' 'apiVersion: admissionregistration.k8s.io/v1' 'kind: ValidatingWebhookConfiguration' \
      'metadata: {name: ipam-operator}' 'webhooks:'
    webhook inclusterippool inclusterippools
    webhook globalinclusterippool globalinclusterippools
  } | kubectl apply --server-side -f - >/dev/null
}

stop_operator() {
  if [ -f "$DEV/operator.pid" ]; then
    kill "$(cat "$DEV/operator.pid")" 2>/dev/null || true
    rm -f "$DEV/operator.pid"
  fi
}

down() {
  stop_operator
  [ -d "$DEV/control-plane" ] && e2e/bin/control-plane.sh stop "$DEV/control-plane"
  echo "down: nothing left running"
}

demo() {
  up
  echo
  echo "==> applying examples/"
  kubectl apply --server-side -R -f examples/
  sleep 3
  echo
  echo "==> what is in the cluster now"
  kubectl get clustertemplates,clusterdeployments,clusteripamclaims,clusteripams -A
  echo
  echo "==> the operator's log"
  tail -n 20 "$DEV/operator.log"
  echo
  echo "Look further:  export KUBECONFIG=$DEV/kubeconfig"
  echo "               $(cat "$DEV/bin-dir")/kubectl get clusteripamclaims -A -o yaml"
  echo "Stop it all:   make down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  demo) demo ;;
  *) echo "usage: dev.sh up|down|demo" >&2; exit 2 ;;
esac
