#!/usr/bin/env bash
# Checks (and where it can, installs) what the project needs on a fresh machine, then prints
# the folder of the Go-built binaries (etcd, kube-apiserver, kube-controller-manager,
# kubectl, helm), building them on first use.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need() { command -v "$1" >/dev/null 2>&1; }

missing=()
for tool in openssl curl python3; do need "$tool" || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if need apt-get && [ "$(id -u)" = 0 ]; then
    echo "tools: installing ${missing[*]}" >&2
    apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "tools: missing ${missing[*]}; install them first" >&2; exit 1
  fi
fi
python3 -c 'import venv' 2>/dev/null || {
  if need apt-get && [ "$(id -u)" = 0 ]; then apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2
  else echo "tools: python3 venv module missing" >&2; exit 1; fi
}
need cargo || { echo "tools: Rust (cargo) is required; install it with rustup" >&2; exit 1; }
need go || { echo "tools: Go >= 1.26 is required to build kube-apiserver" >&2; exit 1; }
gover="$(go env GOVERSION | sed 's/^go//')"
case "$gover" in
  1.2[6-9]*|1.[3-9]*) ;;
  *) echo "tools: Go $gover is too old; kube-apiserver 1.36 needs Go >= 1.26" >&2; exit 1 ;;
esac

# promtool checks the chart's alerts; built here so that a fresh machine (and CI) fails
# early when it cannot be, never skips the check. Its path is printed by build-promtool.sh.
"$HERE/build-promtool.sh" >/dev/null
# Flux's source-controller and helm-controller install the k0rdent tests' cluster chart; built
# here for the same reason (e2e/bin/build-flux.sh prints their folder).
"$HERE/build-flux.sh" >/dev/null
"$HERE/build-control-plane.sh" | tail -n 1
