#!/usr/bin/env bash
# Conformance: run the official Python infoblox-client against wapi-sim.
#
# Builds wapi-sim (unless WAPI_SIM_BIN names a binary), keeps a virtual environment with the
# pinned client in ~/.cache/ipam-operator (override with WAPI_SIM_VENV), starts the server on a
# free loopback port, runs test_infoblox_client.py with pytest and always stops the server.
# Extra arguments go to pytest. Exit status is pytest's.
set -euo pipefail

INFOBLOX_CLIENT_VERSION=0.6.2
PYTEST_VERSION=8.4.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${WAPI_SIM_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ipam-operator/wapi-sim-conformance-venv}"

bin="${WAPI_SIM_BIN:-}"
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --quiet -p wapi-sim)
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/wapi-sim"
fi

# Reuse the environment when it already holds exactly the pinned versions and still works.
stamp="$venv/.pins-$INFOBLOX_CLIENT_VERSION-$PYTEST_VERSION"
if [ ! -f "$stamp" ] || ! "$venv/bin/python" -c 'import infoblox_client, pytest' 2>/dev/null; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "infoblox-client==$INFOBLOX_CLIENT_VERSION" "pytest==$PYTEST_VERSION"
    touch "$stamp"
fi

work="$(mktemp -d)"
pid=""
tests_pid=""
cleanup() {
    for p in $tests_pid $pid; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" --listen 127.0.0.1:0 --addr-file "$work/addr" --cert-dir "$work/certs" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/addr" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "wapi-sim exited before listening:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ ! -s "$work/addr" ]; then
    echo "wapi-sim did not report its address within 10 s" >&2
    exit 1
fi

# pytest runs in the background and is waited for, so a signal to this script is handled at
# once (bash defers traps while a foreground child runs) and the cleanup stops both processes.
status=0
PYTHONDONTWRITEBYTECODE=1 WAPI_SIM_ADDR="$(cat "$work/addr")" WAPI_SIM_CA="$work/certs/ca.pem" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/test_infoblox_client.py" "$@" &
tests_pid=$!
wait "$tests_pid" || status=$?
tests_pid=""
if [ "$status" -ne 0 ]; then
    echo "--- wapi-sim log ---" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
