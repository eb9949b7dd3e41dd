#!/usr/bin/env bash
# Builds the engine's fuzz targets and runs each for a short, bounded time.
# Exits non-zero when a target finds a crash, or when cargo-fuzz is missing and
# cannot be installed.
#
#   engine/fuzz/run.sh              # 20 s per target
#   FUZZ_SECONDS=300 engine/fuzz/run.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-20}"
# Nightly, sanitizer-instrumented builds never share a target dir with the
# workspace's stable builds.
target_dir="${FUZZ_TARGET_DIR:-$here/target}"

# cargo-fuzz passes nightly-only flags (-Zsanitizer). Use the nightly toolchain when the
# machine has one; otherwise let the stable compiler accept them (RUSTC_BOOTSTRAP), since a
# machine that reaches only package registries cannot download a nightly.
toolchain=()
if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    echo "engine/fuzz/run.sh: no nightly toolchain; building with the stable one (RUSTC_BOOTSTRAP=1)" >&2
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "engine/fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$here"
cargo "${toolchain[@]}" fuzz build --target-dir "$target_dir"
for target in $(cargo "${toolchain[@]}" fuzz list); do
    corpus="$here/corpus/$target"
    mkdir -p "$corpus"
    seeds=()
    if [ -d "$here/seeds/$target" ]; then
        seeds=("$here/seeds/$target")
    fi
    echo "engine/fuzz/run.sh: fuzzing $target for ${seconds}s" >&2
    cargo "${toolchain[@]}" fuzz run --target-dir "$target_dir" "$target" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
done
echo "engine/fuzz/run.sh: no finding" >&2
