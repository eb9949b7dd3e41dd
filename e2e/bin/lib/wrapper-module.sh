# Sourced by the scripts that build a published Go command inside a throw-away main module
# requiring it (build-peer.sh, build-clusterctl.sh): minimal version selection then picks
# exactly the upstream's own dependency versions, and `go mod download -json` says where its
# files (CRDs, go.mod) are. Nothing of the upstream is copied into the repository.

export GOTOOLCHAIN=local   # a newer `go` line must never trigger a toolchain download
export CGO_ENABLED=0
export GOFLAGS=-mod=mod

# wrapper_module SCRIPT MODULE VERSION: a temporary folder (removed on exit, and the working
# directory from now on) holding a go.mod at the upstream's Go version; sets SRC to the
# upstream module's downloaded files and `started` to the time the build began.
wrapper_module() {
  local script="$1" module="$2" version="$3"
  command -v go >/dev/null || { echo "$script: Go is required to build ${module}" >&2; exit 1; }
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  cd "$WORK"
  started=$SECONDS
  SRC="$(go mod download -json "${module}@v${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$SRC" ] || { echo "$script: cannot download ${module}@v${version}" >&2; exit 1; }
  local gover
  gover="$(sed -n 's/^go \([0-9]*\.[0-9]*\).*/\1/p' "$SRC/go.mod")"
  printf 'module local/%s\n\ngo %s.0\n' "$script" "$gover" > go.mod
}
