#!/usr/bin/env bash
# Builds the binaries benches/device_run.sh measures (stripped, gzipped), one folder under
# .devrun/ per GEMM variant: `base` is the tree as it is; each other variant is the tree with a few constants
# changed (in a scratch worktree, so this checkout stays clean). Run from the repository root;
# then, on the device: benches/device_run.sh $OUT .devrun/base .devrun/<variant> ...
set -euo pipefail
root=$(pwd)
# A target folder of its own: variants built from other source paths into ./target would leave
# binaries there that cargo still thinks are fresh for this checkout.
target=$root/target/device-variants

# build NAME DIR: release `shadernet` and the `kernels` bench from DIR into .devrun/NAME.
build() {
    (cd "$2" && CARGO_TARGET_DIR=$target cargo build --release --quiet \
        && CARGO_TARGET_DIR=$target cargo bench --no-run --bench kernels --quiet 2>/dev/null)
    mkdir -p "$root/.devrun/$1"
    cp "$target/release/shadernet" "$root/.devrun/$1/"
    cp "$(ls -t "$target"/release/deps/kernels-* | grep -v '\.d$' | head -1)" "$root/.devrun/$1/kernels"
    strip "$root/.devrun/$1/shadernet" "$root/.devrun/$1/kernels"
    # Compressed, so that several variants fit the 64 MiB a device call carries.
    gzip -9 -f "$root/.devrun/$1/shadernet" "$root/.devrun/$1/kernels"
    echo "built .devrun/$1"
}

# at NAME REV: the tree as committed at REV (a baseline measured in the same call).
at() {
    local dir=/tmp/shadernet-variant-$1
    git worktree remove --force "$dir" 2>/dev/null || true
    git worktree add --detach "$dir" "$2" >/dev/null
    build "$1" "$dir"
    git worktree remove --force "$dir"
}

# variant NAME SED_SHADER SED_HOST: the tree with gemm_core.wgsl and ops/gemm.rs edited.
variant() {
    local dir=/tmp/shadernet-variant-$1
    git worktree remove --force "$dir" 2>/dev/null || true
    git worktree add --detach "$dir" HEAD >/dev/null
    # Uncommitted changes of this checkout travel too.
    git diff HEAD | (cd "$dir" && git apply --allow-empty)
    sed -i "$2" "$dir/shaders/gemm_core.wgsl"
    sed -i "$3" "$dir/src/gpu/ops/gemm.rs"
    build "$1" "$dir"
    git worktree remove --force "$dir"
}

build base "$root"
# The kernels measured as v6 (benches/GPU_KERNELS.md; block size since read from constants),
# before the whole-vec4 staging and the stride-1 data-gradient loads.
at v6 1913a9fff73f
# 128 x 128 blocks, 256 invocations of 8 x 8 values: twice the reuse of each staged word.
variant block128 \
    's/^const BM: u32 = 64u;/const BM: u32 = 128u;/; s/^const BN: u32 = 64u;/const BN: u32 = 128u;/' \
    's/^pub const BLOCK_M: usize = 64;/pub const BLOCK_M: usize = 128;/; s/^pub const BLOCK_N: usize = 64;/pub const BLOCK_N: usize = 128;/'
# 64 rows x 128 columns, 128 invocations: wider along n, the long side of every convolution
# product (batch pixels, or C·K·K for the weight gradient), while the 32–128 filters or
# channels of these networks still fill the rows.
variant block64x128 \
    's/^const BN: u32 = 64u;/const BN: u32 = 128u;/' \
    's/^pub const BLOCK_N: usize = 64;/pub const BLOCK_N: usize = 128;/'
