#!/usr/bin/env bash
# `make image`: the operator's image as an OCI archive, built without a container engine.
#
# The binary is built here, static (musl), and buildah builds the last stage of the
# Dockerfile (from `FROM scratch` on) around it, so `docker build` and `make image` give the
# same image: what the Dockerfile's build stage puts under /out, this script puts under out/
# of buildah's context. Then the image is run once (buildah run, through runc) to prove the
# binary starts on an empty base as uid 65532.
#
# Prints the archive's path: target/image/ipam-operator-<appVersion>.oci.tar, image
# `ipam-operator:<appVersion>` (the chart's default image).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

TARGET=x86_64-unknown-linux-musl
VERSION="$(sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/ipam-operator/Chart.yaml)"
IMAGE="ipam-operator:$VERSION"
OUT="$ROOT/target/image"
ARCHIVE="$OUT/ipam-operator-$VERSION.oci.tar"
UID_EXPECTED=65532

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need buildah || missing+=(buildah)
need runc || missing+=(runc)
need musl-gcc || missing+=(musl-tools)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ "${#missing[@]}" -gt 0 ]; then
  if need apt-get && [ "$(id -u)" = 0 ]; then
    echo "build-image: installing ${missing[*]}" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "build-image: missing ${missing[*]}; install them first" >&2; exit 1
  fi
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
  echo "build-image: adding the Rust target $TARGET" >&2
  rustup target add "$TARGET" >&2
fi

echo "build-image: building ipam-operator for $TARGET (release)" >&2
# ring's C and assembly go through musl's compiler wrapper.
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked --target "$TARGET" \
  --bin ipam-operator >&2
binary="${CARGO_TARGET_DIR:-$ROOT/target}/$TARGET/release/ipam-operator"
# A static binary has no program interpreter: the empty base has no loader to offer.
if readelf -l "$binary" | grep -q 'program interpreter'; then
  echo "build-image: $binary is dynamically linked; the image has no libc" >&2; exit 1
fi

context="$(mktemp -d)"
container=""
cleanup() {
  [ -z "$container" ] || buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$context"
}
trap cleanup EXIT
mkdir -p "$context/out/etc/ssl/certs" "$OUT"
cp "$binary" "$context/out/ipam-operator"
cp /etc/ssl/certs/ca-certificates.crt "$context/out/etc/ssl/certs/ca-certificates.crt"
# The Dockerfile's last stage, its copies taken from the context instead of the build stage.
sed -n '/^FROM scratch/,$p' Dockerfile | sed 's#^COPY --from=build /out/#COPY out/#' \
  > "$context/Containerfile"
if grep -q -- '--from=' "$context/Containerfile"; then
  echo "build-image: the Dockerfile's last stage copies something not under /out" >&2; exit 1
fi

echo "build-image: building $IMAGE with buildah" >&2
buildah build --quiet --format oci --layers=false \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -f "$context/Containerfile" -t "$IMAGE" "$context" >/dev/null

# Run once: the binary starts on the empty base, as the image's user. Through runc, as
# containerd runs it (Debian's buildah defaults to crun, which refuses this kind of machine's
# hybrid cgroup layout).
container="$(buildah from --quiet "$IMAGE")"
version_line="$(buildah run --runtime runc "$container" -- /ipam-operator --version)"
user="$(buildah inspect --type container --format '{{.OCIv1.Config.User}}' "$container")"
if [ "$user" != "$UID_EXPECTED:$UID_EXPECTED" ]; then
  echo "build-image: the image runs as '$user', not $UID_EXPECTED" >&2; exit 1
fi
echo "build-image: $IMAGE runs: $version_line (user $user)" >&2

rm -f "$ARCHIVE"
buildah push --quiet "$IMAGE" "oci-archive:$ARCHIVE:$IMAGE" >&2
echo "$ARCHIVE"
