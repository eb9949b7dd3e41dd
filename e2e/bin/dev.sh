#!/usr/bin/env bash
# `make up`, `make down`, `make demo`: a local control plane with the operator running
# against it, for trying things by hand. Everything lives under target/dev.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DEV="$ROOT/target/dev"
mkdir -p "$DEV"

kubectl() { "$(cat "$DEV/bin-dir")/kubectl" --kubeconfig "$DEV/kubeconfig" "$@"; }

up() {
  e2e/bin/tools.sh > "$DEV/bin-dir"
  cargo build --locked --bin ipam-operator
  e2e/bin/control-plane.sh start "$DEV/control-plane"
  cp "$DEV/control-plane/kubeconfig" "$DEV/kubeconfig"
  kubectl apply --server-side -f crds/ >/dev/null
  kubectl wait --for condition=established --timeout=60s -f crds/ >/dev/null
  stop_operator
  KUBECONFIG="$DEV/kubeconfig" nohup ./target/debug/ipam-operator run >"$DEV/operator.log" 2>&1 &
  echo $! > "$DEV/operator.pid"
  sleep 1
  kill -0 "$(cat "$DEV/operator.pid")" 2>/dev/null || { cat "$DEV/operator.log" >&2; exit 1; }
  echo "up: control plane and operator running"
  echo "    export KUBECONFIG=$DEV/kubeconfig; kubectl is $(cat "$DEV/bin-dir")/kubectl"
  echo "    operator log: $DEV/operator.log"
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
