#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager), kubectl and helm
# from published Go modules, once per machine. The binaries live outside the repository so
# that every clone and every CI run on this machine reuses them.
#
#   build-control-plane.sh                          the above; prints the binaries' folder
#   build-control-plane.sh kube-scheduler kubelet   also these commands of k8s.io/kubernetes,
#                                                   same version, same folder (the local node)
#
# Why a wrapper module: k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with
# local paths, which `go install pkg@version` refuses. A throw-away main module that points
# each staging module at its published v0.X.Y tag builds the commands unchanged.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
HELM_VERSION="${HELM_VERSION:-3.22.0}"
CACHE="${IPAM_TESTBIN_CACHE:-$HOME/.cache/ipam-operator/testbin}"
OUT="$CACHE/k8s-v${K8S_VERSION}-etcd-v${ETCD_VERSION}-helm-v${HELM_VERSION}"

export GOTOOLCHAIN=local   # a newer `go` line must never trigger a toolchain download
export CGO_ENABLED=0
export GOFLAGS=-mod=mod

if ! command -v go >/dev/null; then
  echo "build-control-plane: Go is required (>= 1.26) to build kube-apiserver; install it first" >&2
  exit 1
fi

mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

build_kubernetes() {
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  local staging="v0.${K8S_VERSION#1.}"
  mkdir -p "$WORK/k8s"; cd "$WORK/k8s"
  local gomod
  gomod="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" \
           | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [ -s "$gomod" ] || { echo "build-control-plane: cannot download k8s.io/kubernetes@v${K8S_VERSION}" >&2; exit 1; }
  local gover
  gover="$(sed -n 's/^go \([0-9]*\.[0-9]*\).*/\1/p' "$gomod")"
  { printf 'module local/ipam-testbin\n\ngo %s.0\n' "$gover"
    sed -n 's/^godebug[[:space:]]\{1,\}\(.*\)$/\ngodebug \1/p' "$gomod"; } > go.mod
  local m
  for m in $(sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\2#p' "$gomod"); do
    go mod edit -replace="${m}=${m}@${staging}"
  done
  local pkgs=() cmd
  for cmd in "${K8S_COMMANDS[@]}"; do
    [ -x "$OUT/$cmd" ] || pkgs+=("k8s.io/kubernetes/cmd/$cmd")
  done
  go get "${pkgs[@]/%/@v${K8S_VERSION}}"
  local ldf="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldf+=" -X ${pkg}.gitTreeState=clean"
  done
  for pkg in "${pkgs[@]}"; do
    echo "build-control-plane: building $(basename "$pkg") v${K8S_VERSION} (cold: 10-25 min)" >&2
    go build -trimpath -ldflags "$ldf" -o "$OUT/$(basename "$pkg").tmp" "$pkg"
    mv "$OUT/$(basename "$pkg").tmp" "$OUT/$(basename "$pkg")"
  done
}

build_etcd() {
  mkdir -p "$WORK/etcd"; cd "$WORK/etcd"
  printf 'module local/ipam-etcd\n\ngo 1.25.0\n' > go.mod
  go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"
  echo "build-control-plane: building etcd v${ETCD_VERSION}" >&2
  go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$OUT/etcd.tmp" "$OUT/etcd"
}

build_helm() {
  mkdir -p "$WORK/helm"; cd "$WORK/helm"
  local gomod gover
  gomod="$(cd "$WORK" && go mod download -json "helm.sh/helm/v3@v${HELM_VERSION}" \
           | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  gover="$(sed -n 's/^go \([0-9]*\.[0-9]*\).*/\1/p' "$gomod")"
  printf 'module local/ipam-helm\n\ngo %s.0\n' "$gover" > go.mod
  go get "helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}"
  echo "build-control-plane: building helm v${HELM_VERSION}" >&2
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}" \
    -o "$OUT/helm.tmp" helm.sh/helm/v3/cmd/helm
  mv "$OUT/helm.tmp" "$OUT/helm"
}

K8S_COMMANDS=(kube-apiserver kube-controller-manager kubectl)
for extra in "$@"; do
  case "$extra" in
    kube-scheduler|kubelet) K8S_COMMANDS+=("$extra") ;;
    *) echo "build-control-plane: cannot build '$extra' (known: kube-scheduler, kubelet)" >&2; exit 2 ;;
  esac
done
k8s_built=1
for cmd in "${K8S_COMMANDS[@]}"; do [ -x "$OUT/$cmd" ] || k8s_built=0; done

[ -x "$OUT/etcd" ] || build_etcd
[ "$k8s_built" = 1 ] || build_kubernetes
[ -x "$OUT/helm" ] || build_helm

echo "$OUT"
