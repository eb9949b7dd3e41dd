#!/usr/bin/env bash
# `make test`: every test, unit and against the real control plane, plus the checks CI keeps.
# The control plane, and a single-node cluster running the operator's image installed by its
# chart, are started for this run and always stopped, whatever fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TESTENV="$ROOT/target/testenv"
NODE="$ROOT/target/testnode"
# Incremental caches only pay off across edits; for a run of every test they add some 20 GB
# to target/ (one per test binary) and filled this machine's disk once. Set it to 1 to keep
# them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }

step "tools"
bin="$(e2e/bin/tools.sh)"
echo "Go-built binaries: $bin"

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --all-targets --locked

step "generated CRDs are current"
./target/debug/ipam-operator crds | diff -u crds/ipam-operator.crds.yaml - \
  || { echo "crds/ is stale: run 'make crds' and commit the result" >&2; exit 1; }
# The chart ships its own copy (helm installs only files inside the chart).
diff -u crds/ipam-operator.crds.yaml charts/ipam-operator/crds/ipam-operator.crds.yaml \
  || { echo "charts/ipam-operator/crds/ is stale: run 'make crds' and commit the result" >&2; exit 1; }

step "alert rules: promtool check and test (fire exactly when they should)"
promtool="$(e2e/bin/build-promtool.sh)"
"$promtool" check rules charts/ipam-operator/files/prometheus-rules.yaml
(cd e2e/promtool && "$promtool" test rules alerts_test.yaml)

step "Helm chart: lint and render"
CHART=charts/ipam-operator
"$bin/helm" lint --strict "$CHART"
"$bin/helm" lint --strict "$CHART" --set backends.infoblox.enabled=true \
  --set webhook.certManager.enabled=true --set metrics.serviceMonitor.enabled=true \
  --set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true
"$bin/helm" template ipam-operator "$CHART" --namespace ipam-system >/dev/null
# values.schema.json refuses what the templates cannot use.
if "$bin/helm" template ipam-operator "$CHART" --set logging.format=xml >/dev/null 2>&1; then
  echo "values.schema.json accepted logging.format=xml" >&2; exit 1
fi
if "$bin/helm" template ipam-operator "$CHART" --set metrics.grafanaDashboard.label=x >/dev/null 2>&1; then
  echo "values.schema.json accepted an unknown key under metrics.grafanaDashboard" >&2; exit 1
fi

step "control plane"
# Each part is stopped whatever the other's stop says (errexit holds inside a trap too: a
# failing first command would leave the control plane running, and the next run reusing it).
trap 'e2e/bin/cluster.sh down "$NODE" >/dev/null 2>&1 || true; e2e/bin/control-plane.sh stop "$TESTENV" >/dev/null || true' EXIT
if ! e2e/bin/control-plane.sh start "$TESTENV"; then
  echo "the test control plane did not start; see $TESTENV/*.log" >&2
  exit 1
fi
export IPAM_TEST_KUBECONFIG="$TESTENV/kubeconfig"
"$bin/kubectl" --kubeconfig "$IPAM_TEST_KUBECONFIG" version

step "Helm chart: the rendered manifests pass the real API server (server-side dry run)"
k() { "$bin/kubectl" --kubeconfig "$IPAM_TEST_KUBECONFIG" "$@"; }
k create namespace ipam-system --dry-run=client -o yaml | k apply --server-side -f - >/dev/null
# The CRDs for real (a dry run of a custom resource needs its CRD), then every template.
k apply --server-side -f "$CHART/crds/" >/dev/null
"$bin/helm" template ipam-operator "$CHART" --namespace ipam-system \
  | k apply --server-side --dry-run=server -f -
"$bin/helm" template ipam-operator "$CHART" --namespace ipam-system \
  --set backends.infoblox.enabled=true --set webhook.enabled=false --set leaderElection.enabled=false \
  | k apply --server-side --dry-run=server -f - >/dev/null
# The dashboard's ConfigMap (the PrometheusRule's CRD is not installed here; tests/metrics.rs
# checks that it carries the promtool-tested rules unchanged).
"$bin/helm" template ipam-operator "$CHART" --namespace ipam-system \
  --set metrics.grafanaDashboard.enabled=true -s templates/grafana-dashboard.yaml \
  | k apply --server-side --dry-run=server -f - >/dev/null
# Tests that render the chart or call kubectl find the binaries here, and Flux's controllers
# (run per test by tests/k0rdent_flux.rs) there.
export IPAM_TESTBIN="$bin"
IPAM_FLUX="$(e2e/bin/build-flux.sh)"
export IPAM_FLUX
# clusterctl, which tests/clusterctl.rs installs the release manifests with.
IPAM_CLUSTERCTL="$(e2e/bin/build-clusterctl.sh)"
export IPAM_CLUSTERCTL

step "the image, a node (containerd, kubelet) and the chart installed on it"
# tests/cluster*.rs find it there; e2e/bin/cluster.sh builds the image (make image) first.
if ! e2e/bin/cluster.sh up "$NODE"; then
  echo "the test node did not start; see $NODE/*.log" >&2
  exit 1
fi
export IPAM_TEST_CLUSTER="$NODE"

step "tests (unit and against the real kube-apiserver)"
cargo test --workspace --locked --no-fail-fast

step "fuzz the address and pool parsers (short, bounded run)"
engine/fuzz/run.sh

step "WAPI conformance: the official infoblox-client against wapi-sim"
WAPI_SIM_BIN="$ROOT/target/debug/wapi-sim" e2e/wapi-sim/conformance/run.sh
step "all tests passed"
