#!/usr/bin/env bash
# `make bench-e2e`: every scenario against every system that serves it, each pair on a control
# plane of its own, started fresh and stopped after (even when the run fails), so no run
# inherits another's objects or watch load. Reports go to target/bench/<scenario>-<system>.json,
# the table to target/bench/summary.md. The reports of an earlier run are removed first, so the
# table holds only this run's.
#
#   BENCH_SCENARIOS="one-pool-1k ten-pools"   the scenarios to run (default: all)
#   BENCH_SYSTEMS="ours peer"                 the systems to run them on (default: each one's)
#   BENCH_RESTART_ADDRESSES=3000              a smaller restart, to try the scenario quickly
#
# Systems: `ours` (target/release/ipam-operator), `peer` (the upstream in-cluster provider,
# e2e/bin/build-peer.sh), `raw` (no provider: the driver makes a provider's writes itself).
#
# Internally `bench-e2e.sh one SCENARIO SYSTEM` runs one pair; the main run calls it per pair
# in a process of its own, so that one failing pair stops only itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/bench"
ALL_SCENARIOS="one-pool-1k one-pool-10k ten-pools metal3 k0rdent restart"

# What each scenario loads, and who serves it. The raw limit means nothing for k0rdent (no
# fixed set of writes per deployment) nor for a restart; the peer serves neither Metal3 nor
# k0rdent.
systems_of() {
  case "$1" in
    one-pool-1k|one-pool-10k|ten-pools) echo "raw peer ours" ;;
    metal3) echo "raw ours" ;;
    k0rdent|restart) echo "ours" ;;
    *) echo "bench-e2e: unknown scenario $1 (known: $ALL_SCENARIOS)" >&2; return 1 ;;
  esac
}
driver_args_of() {
  case "$1" in
    one-pool-1k) echo "claims --pools 1 --claims-per-pool 1000" ;;
    one-pool-10k) echo "claims --pools 1 --claims-per-pool 10000" ;;
    ten-pools) echo "claims --pools 10 --claims-per-pool 100" ;;
    metal3) echo "claims --face metal3 --pools 1 --claims-per-pool 1000" ;;
    k0rdent) echo "k0rdent --deployments 50" ;;
    restart) echo "restart --addresses ${BENCH_RESTART_ADDRESSES:-100000}" ;;
  esac
}
controllers_of() {
  case "$1" in
    metal3) echo "in-cluster,metal3" ;;
    k0rdent) echo "in-cluster,k0rdent" ;;
    *) echo "in-cluster" ;;
  esac
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The command line of the system under test, in SUT_CMD; its health port in SUT_HEALTH.
sut_command() { # scenario system dir
  local scenario="$1" system="$2" dir="$3"
  SUT_HEALTH="$(free_port)"
  local metrics; metrics="$(free_port)"
  case "$system" in
    ours)
      SUT_CMD=("$ROOT/target/release/ipam-operator" run --controllers "$(controllers_of "$scenario")"
               --webhook-port 0 --metrics-port "$metrics" --health-port "$SUT_HEALTH") ;;
    peer)
      # Its webhook server needs a certificate to start; no webhook configuration points at it,
      # as none does at ours (which runs with --webhook-port 0).
      mkdir -p "$dir/peer-certs"
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
        -keyout "$dir/peer-certs/tls.key" -out "$dir/peer-certs/tls.crt" 2>/dev/null
      SUT_CMD=("$PEER/manager" --leader-elect=false
               --health-probe-bind-address="127.0.0.1:$SUT_HEALTH"
               --diagnostics-address="127.0.0.1:$metrics" --insecure-diagnostics
               --webhook-port="$(free_port)" --webhook-cert-dir="$dir/peer-certs") ;;
  esac
}

# Stops the system under test (SIGTERM, as Kubernetes would, then SIGKILL) and the control plane.
cleanup() {
  if [ -n "${SUT_PID:-}" ]; then
    kill -TERM "$SUT_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SUT_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SUT_PID" 2>/dev/null || true
  fi
  [ -z "${CP_DIR:-}" ] || e2e/bin/control-plane.sh stop "$CP_DIR" >/dev/null || true
}

one() { # scenario system
  local scenario="$1" system="$2"
  # Globals: the EXIT trap runs after this function has returned.
  CP_DIR="$OUT/cp-$scenario-$system"
  SUT_PID=""
  local dir="$CP_DIR"
  local kubectl=("$BIN/kubectl" --kubeconfig "$dir/kubeconfig")
  trap cleanup EXIT
  # A control plane left running in this folder would not be fresh: stop it first.
  e2e/bin/control-plane.sh stop "$dir" >/dev/null
  e2e/bin/control-plane.sh start "$dir" >/dev/null

  local crds=(e2e/fixtures/capi)
  case "$system" in
    peer) crds+=("$PEER/crds") ;;
    *) crds+=(crds/ipam-operator.crds.yaml) ;;
  esac
  [ "$scenario" = k0rdent ] && crds+=("$(e2e/bin/build-flux.sh)/crds")
  local c
  for c in "${crds[@]}"; do "${kubectl[@]}" apply --server-side -f "$c" >/dev/null; done
  "${kubectl[@]}" wait --for=condition=Established crd --all --timeout=60s >/dev/null

  local args
  read -r -a args <<<"$(driver_args_of "$scenario")"
  args+=(--kubeconfig "$dir/kubeconfig" --scenario "$scenario" --system "$system"
         --out "$OUT/$scenario-$system.json")
  [ "$system" = raw ] && args+=(--raw)
  if [ "$system" != raw ]; then sut_command "$scenario" "$system" "$dir"; fi

  if [ "$scenario" = restart ]; then
    # The driver writes the existing state first, then starts the operator itself, to time
    # its start from the exec.
    "$ROOT/target/release/ipam-bench" "${args[@]}" --health-port "$SUT_HEALTH" \
      --log "$dir/sut.log" -- "${SUT_CMD[@]}"
    return
  fi
  if [ "$system" != raw ]; then
    KUBECONFIG="$dir/kubeconfig" "${SUT_CMD[@]}" >"$dir/sut.log" 2>&1 &
    SUT_PID=$!
    local deadline=$((SECONDS + 120))
    until curl -sf -o /dev/null "http://127.0.0.1:$SUT_HEALTH/readyz"; do
      kill -0 "$SUT_PID" 2>/dev/null || { echo "bench-e2e: $system exited; see $dir/sut.log" >&2; tail -20 "$dir/sut.log" >&2; return 1; }
      [ "$SECONDS" -lt "$deadline" ] || { echo "bench-e2e: $system not ready in 120s; see $dir/sut.log" >&2; return 1; }
      sleep 0.2
    done
    args+=(--pid "$SUT_PID")
  fi
  "$ROOT/target/release/ipam-bench" "${args[@]}"
}

# Found once by the main run and handed to each pair's process.
BIN="${BIN:-$(e2e/bin/tools.sh)}"
PEER="${PEER:-$(e2e/bin/build-peer.sh | tail -n 1)}"
export BIN PEER
if [ "${1:-}" = one ]; then one "$2" "$3"; exit; fi

echo "==> build (release)"
cargo build --release --locked -p ipam-operator -p ipam-bench
mkdir -p "$OUT"
rm -f "$OUT"/*.json

failed=()
for scenario in ${BENCH_SCENARIOS:-$ALL_SCENARIOS}; do
  for system in $(systems_of "$scenario"); do
    if [ -n "${BENCH_SYSTEMS:-}" ] && [[ " $BENCH_SYSTEMS " != *" $system "* ]]; then continue; fi
    echo "==> $scenario on $system"
    "$0" one "$scenario" "$system" || failed+=("$scenario-$system")
  done
done

command="make bench-e2e"
[ -n "${BENCH_SCENARIOS:-}" ] && command="BENCH_SCENARIOS=\"$BENCH_SCENARIOS\" $command"
[ -n "${BENCH_SYSTEMS:-}" ] && command="BENCH_SYSTEMS=\"$BENCH_SYSTEMS\" $command"
echo
"$ROOT/target/release/ipam-bench" summary --dir "$OUT" --command "$command" --out "$OUT/summary.md"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench-e2e: failed: ${failed[*]} (logs in $OUT/cp-<scenario>-<system>/)" >&2
  exit 1
fi
