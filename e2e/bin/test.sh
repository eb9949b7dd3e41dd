#!/usr/bin/env bash
# `make test`: every test, unit and against the real control plane, plus the checks CI keeps.
# The control plane is started for this run and always stopped, whatever fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TESTENV="$ROOT/target/testenv"

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

step "control plane"
trap 'e2e/bin/control-plane.sh stop "$TESTENV" >/dev/null' EXIT
if ! e2e/bin/control-plane.sh start "$TESTENV"; then
  echo "the test control plane did not start; see $TESTENV/*.log" >&2
  exit 1
fi
export IPAM_TEST_KUBECONFIG="$TESTENV/kubeconfig"
"$bin/kubectl" --kubeconfig "$IPAM_TEST_KUBECONFIG" version

step "tests (unit and against the real kube-apiserver)"
cargo test --workspace --locked

step "fuzz the address and pool parsers (short, bounded run)"
engine/fuzz/run.sh

step "WAPI conformance: the official infoblox-client against wapi-sim"
WAPI_SIM_BIN="$ROOT/target/debug/wapi-sim" e2e/wapi-sim/conformance/run.sh
step "all tests passed"
