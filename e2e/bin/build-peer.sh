#!/usr/bin/env bash
# Builds the reference the benchmarks compare against: the upstream
# sigs.k8s.io/cluster-api-ipam-provider-in-cluster manager at one pinned version, from the Go
# module proxy, outside the repository, once per machine. Prints the folder holding
#   manager    the upstream's root main.go, built unchanged
#   crds/      the upstream's config/crd/bases, copied from the module cache
#   build-seconds  how long the (cold) build took, for BENCHMARKS.md
#
# Why a wrapper module: `go install pkg@version` would do, but a throw-away main module that
# requires the provider keeps its go.mod's versions (minimal version selection picks exactly
# the upstream's) and lets `go mod download -json` tell us where its CRDs are.
set -euo pipefail

PEER_VERSION="${PEER_VERSION:-1.1.0}"
PEER_MODULE=sigs.k8s.io/cluster-api-ipam-provider-in-cluster
CACHE="${IPAM_TESTBIN_CACHE:-$HOME/.cache/ipam-operator/testbin}"
OUT="$CACHE/peer-in-cluster-v${PEER_VERSION}"

# shellcheck source=lib/wrapper-module.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/wrapper-module.sh"

if [ -x "$OUT/manager" ] && [ -n "$(ls "$OUT/crds/"*.yaml 2>/dev/null)" ]; then
  echo "$OUT"; exit 0
fi
mkdir -p "$OUT/crds"
wrapper_module build-peer "$PEER_MODULE" "$PEER_VERSION"

go get "${PEER_MODULE}@v${PEER_VERSION}"
echo "build-peer: building ${PEER_MODULE} v${PEER_VERSION} (cold: a few minutes)" >&2
go build -trimpath -ldflags "-s -w" -o "$OUT/manager.tmp" "$PEER_MODULE"
mv "$OUT/manager.tmp" "$OUT/manager"
cp "$SRC"/config/crd/bases/*.yaml "$OUT/crds/"
chmod u+w "$OUT"/crds/*.yaml   # the module cache is read-only; the copies need not be
echo $((SECONDS - started)) > "$OUT/build-seconds"
echo "build-peer: built in $(cat "$OUT/build-seconds")s" >&2
echo "$OUT"
