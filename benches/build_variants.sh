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

# variant NAME FILE SED [FILE SED ...]: the tree (uncommitted changes included) with each FILE
# edited by its sed expression (run with -z, so an expression can span lines).
variant() {
    local name=$1 dir=/tmp/shadernet-variant-$1
    shift
    git worktree remove --force "$dir" 2>/dev/null || true
    git worktree add --detach "$dir" HEAD >/dev/null
    git diff HEAD | (cd "$dir" && git apply --allow-empty)
    while [ $# -gt 0 ]; do
        cp "$dir/$1" "$dir/$1.before"
        sed -z -i "$2" "$dir/$1"
        if cmp -s "$dir/$1" "$dir/$1.before"; then
            echo "variant $name: the expression for $1 matched nothing (the code moved?)" >&2
            exit 1
        fi
        rm "$dir/$1.before"
        shift 2
    done
    build "$name" "$dir"
    git worktree remove --force "$dir"
}

build base "$root"
# The kernels measured as v6 (benches/GPU_KERNELS.md; block size since read from constants),
# before the whole-vec4 staging and the stride-1 data-gradient loads.
at v6 1913a9fff73f
# 128 x 128 blocks, 256 invocations of 8 x 8 values: twice the reuse of each staged word.
variant block128 \
    shaders/gemm_core.wgsl 's/\nconst BM: u32 = 64u;/\nconst BM: u32 = 128u;/; s/\nconst BN: u32 = 64u;/\nconst BN: u32 = 128u;/' \
    src/gpu/ops/gemm.rs 's/\npub const BLOCK_M: usize = 64;/\npub const BLOCK_M: usize = 128;/; s/\npub const BLOCK_N: usize = 64;/\npub const BLOCK_N: usize = 128;/'
# 64 rows x 128 columns, 128 invocations: wider along n, the long side of every convolution
# product (batch pixels, or C·K·K for the weight gradient), while the 32–128 filters or
# channels of these networks still fill the rows.
variant block64x128 \
    shaders/gemm_core.wgsl 's/\nconst BN: u32 = 64u;/\nconst BN: u32 = 128u;/' \
    src/gpu/ops/gemm.rs 's/\npub const BLOCK_N: usize = 64;/\npub const BLOCK_N: usize = 128;/'
# The tree with wgpu's runtime checks off for every shader (create_shader_module_trusted): on
# Vulkan, naga otherwise clamps every workgroup-array index and adds a counter to every loop
# (force_loop_bounding), which may keep the driver from unrolling the GEMM's k loop. Only worth
# keeping if it is clearly faster: the checks are a safety net against out-of-bounds bugs.
variant trusted \
    src/gpu/kernel.rs 's/let module = device.create_shader_module(\(wgpu::ShaderModuleDescriptor {[^}]*}\));/let module = unsafe {\n        device.create_shader_module_trusted(\1, wgpu::ShaderRuntimeChecks::unchecked())\n    };/'
# A k-step of 8 instead of 16: half the workgroup memory and staged loads per step, so more
# workgroups resident (v5's step of 32 cost 38% on seedtf @128; the other direction is untried).
variant bk8 \
    shaders/gemm_core.wgsl 's/\nconst BK: u32 = 16u;/\nconst BK: u32 = 8u;/' \
    src/gpu/ops/gemm.rs 's/\npub const BLOCK_K: usize = 16;/\npub const BLOCK_K: usize = 8;/'
