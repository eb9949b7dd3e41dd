#!/usr/bin/env bash
# Builds clusterctl, Cluster API's installer, at one pinned version from the Go module proxy,
# outside the repository, once per machine (like the control plane). Prints the folder
# holding `clusterctl` and `build-seconds` (how long the cold build took).
#
# tests/clusterctl.rs installs this operator with it from a local provider repository, the
# way users install any IPAM provider.
set -euo pipefail

CLUSTERCTL_VERSION="${CLUSTERCTL_VERSION:-1.14.2}"
MODULE=sigs.k8s.io/cluster-api
CACHE="${IPAM_TESTBIN_CACHE:-$HOME/.cache/ipam-operator/testbin}"
OUT="$CACHE/clusterctl-v${CLUSTERCTL_VERSION}"

# shellcheck source=lib/wrapper-module.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/wrapper-module.sh"

if [ -x "$OUT/clusterctl" ]; then
  echo "$OUT"; exit 0
fi
mkdir -p "$OUT"
wrapper_module build-clusterctl "$MODULE" "$CLUSTERCTL_VERSION"

# Cluster API points its own sub-modules (the api module) at local folders, which a
# dependent module cannot follow: point each at its published tag of the same version.
for m in $(sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(sigs\.k8s\.io/cluster-api/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./.*#\2#p' "$SRC/go.mod"); do
  go mod edit -replace="${m}=${m}@v${CLUSTERCTL_VERSION}"
done
go get "${MODULE}/cmd/clusterctl@v${CLUSTERCTL_VERSION}"
echo "build-clusterctl: building clusterctl v${CLUSTERCTL_VERSION} (cold: a few minutes)" >&2
# clusterctl reports its own version (and compares it with providers' contracts) from these.
ldf="-s -w -X ${MODULE}/version.gitVersion=v${CLUSTERCTL_VERSION} -X ${MODULE}/version.gitMajor=1"
ldf+=" -X ${MODULE}/version.gitMinor=$(echo "$CLUSTERCTL_VERSION" | cut -d. -f2) -X ${MODULE}/version.gitTreeState=clean"
go build -trimpath -ldflags "$ldf" -o "$OUT/clusterctl.tmp" "${MODULE}/cmd/clusterctl"
mv "$OUT/clusterctl.tmp" "$OUT/clusterctl"
echo $((SECONDS - started)) > "$OUT/build-seconds"
echo "$OUT"
