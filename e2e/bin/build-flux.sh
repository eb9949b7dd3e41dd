#!/usr/bin/env bash
# Builds Flux's source-controller and helm-controller from their published Go modules at pinned
# versions, once per machine, into the same cache as the control plane. The k0rdent tests run
# them as processes against the local kube-apiserver: a ClusterTemplate's HelmChart is fetched
# and packaged by the real source-controller, a ClusterDeployment's HelmRelease is installed by
# the real helm-controller. Prints the folder holding
#   source-controller, helm-controller   the upstreams' root main.go, built unchanged
#   crds/                                both modules' config/crd/bases, copied from the module cache
#   build-seconds                        how long the (cold) build took
#
# Why not `go install pkg@version`: both go.mod files replace their `api` submodule with `./api`,
# which `go install` refuses (and a module's zip leaves nested modules out, so `./api` is not
# there). The build runs in a copy of the module with that one replace dropped, so the `api`
# module is the published one the go.mod already requires at the same version; every other
# line of the upstream go.mod and go.sum is kept.
set -euo pipefail

SOURCE_CONTROLLER_VERSION="${SOURCE_CONTROLLER_VERSION:-1.7.0}"
HELM_CONTROLLER_VERSION="${HELM_CONTROLLER_VERSION:-1.4.0}"
CACHE="${IPAM_TESTBIN_CACHE:-$HOME/.cache/ipam-operator/testbin}"
OUT="$CACHE/flux-source-v${SOURCE_CONTROLLER_VERSION}-helm-v${HELM_CONTROLLER_VERSION}"

export GOTOOLCHAIN=local   # a newer `go` line must never trigger a toolchain download
export CGO_ENABLED=0
export GOFLAGS=-mod=mod

if [ -x "$OUT/source-controller" ] && [ -x "$OUT/helm-controller" ] \
   && [ -n "$(ls "$OUT/crds/"*.yaml 2>/dev/null)" ]; then
  echo "$OUT"; exit 0
fi
command -v go >/dev/null || { echo "build-flux: Go is required to build the Flux controllers" >&2; exit 1; }

mkdir -p "$OUT/crds"
WORK="$(mktemp -d)"
# The two controllers' modules and compiled packages are gigabytes nothing else reuses: a
# module and build cache of their own, removed with the work folder, keep them off the
# machine's shared Go caches once the binaries and CRDs are copied out.
export GOCACHE="$WORK/gocache" GOMODCACHE="$WORK/gomod"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
started=$SECONDS

# build NAME VERSION: github.com/fluxcd/NAME@vVERSION → $OUT/NAME, its CRDs → $OUT/crds/
build() {
  local name="$1" version="$2" module="github.com/fluxcd/$1"
  [ -x "$OUT/$name" ] && return 0
  local src
  src="$(cd "$WORK" && go mod download -json "${module}@v${version}" \
         | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "build-flux: cannot download ${module}@v${version}" >&2; exit 1; }
  cp -r "$src" "$WORK/$name"
  chmod -R u+w "$WORK/$name"   # the module cache is read-only; the copy is edited
  (
    cd "$WORK/$name"
    go mod edit -dropreplace="${module}/api"
    echo "build-flux: building $name v${version} (cold: 10-20 min)" >&2
    go build -trimpath -ldflags "-s -w" -o "$OUT/$name.tmp" .
  )
  mv "$OUT/$name.tmp" "$OUT/$name"
  cp "$src"/config/crd/bases/*.yaml "$OUT/crds/"
  chmod u+w "$OUT"/crds/*.yaml
}

build source-controller "$SOURCE_CONTROLLER_VERSION"
build helm-controller "$HELM_CONTROLLER_VERSION"
echo $((SECONDS - started)) > "$OUT/build-seconds"
echo "build-flux: built in $(cat "$OUT/build-seconds")s" >&2
echo "$OUT"
