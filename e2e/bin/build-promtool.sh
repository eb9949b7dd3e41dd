#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker) from its published Go module, once per machine,
# into the same cache as the control plane. `make test` runs `promtool check rules` and
# `promtool test rules` on the chart's alerts. Prints the binary's path.
#
# Prometheus publishes its Go module as v0.<minor*100+...>: v0.316.0 is Prometheus 3.16.0.
set -euo pipefail

PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.316.0}"
CACHE="${IPAM_TESTBIN_CACHE:-$HOME/.cache/ipam-operator/testbin}"
OUT="$CACHE/promtool-${PROMETHEUS_MODULE_VERSION}"

export GOTOOLCHAIN=local   # a newer `go` line must never trigger a toolchain download
export CGO_ENABLED=0
export GOFLAGS=-mod=mod

if [ ! -x "$OUT/promtool" ]; then
  command -v go >/dev/null || { echo "build-promtool: Go is required to build promtool" >&2; exit 1; }
  mkdir -p "$OUT"
  echo "build-promtool: building promtool ${PROMETHEUS_MODULE_VERSION} (cold: a few minutes)" >&2
  start=$SECONDS
  # `go install pkg@version` builds it as its own main module: Prometheus's go.mod has no
  # replace directives, so nothing has to be rewritten as for kube-apiserver.
  # remove_all_sd leaves out the cloud service-discovery plugins (AWS, Azure, GCE, …):
  # checking and testing rules needs none of them, and they are most of the build.
  GOBIN="$OUT/.tmp" go install -trimpath -tags remove_all_sd -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_MODULE_VERSION}"
  mv "$OUT/.tmp/promtool" "$OUT/promtool"
  rmdir "$OUT/.tmp"
  echo "build-promtool: built in $((SECONDS - start))s" >&2
fi
echo "$OUT/promtool"
