#!/usr/bin/env bash
# Builds the binaries benches/device_run.sh measures (stripped, gzipped), one folder under
# .devrun/ per GEMM variant: `base` is the tree as it is; `v9` ... `v14` are earlier commits;
# each other variant is the tree with a few lines edited (in a scratch worktree, so this
# checkout stays clean). Run from the repository root with the names of the variants to build
# (default: all of them); then, on the device:
# benches/device_run.sh $OUT .devrun/base .devrun/<variant> ...
set -euo pipefail
root=$(pwd)
# A target folder of its own: variants built from other source paths into ./target would leave
# binaries there that cargo still thinks are fresh for this checkout.
target=$root/target/device-variants

# build NAME DIR: release `shadernet` and the `kernels` bench from DIR into .devrun/NAME.
build() {
    (cd "$2" && CARGO_TARGET_DIR=$target cargo build --release --quiet \
        && CARGO_TARGET_DIR=$target cargo bench --no-run --bench kernels --quiet)
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
    # Today's kernels bench (it takes `gpu` to skip the CPU half) where it builds against REV.
    cp benches/kernels.rs "$dir/benches/kernels.rs"
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

# Edits that make a variant, as FILE SED pairs, one substitution each so that `variant` checks
# every one matched (they combine: `variant NAME "${A[@]}" "${B[@]}"`).
# (Block shapes tried before v14 — 64 x 64, 64 x 128, 64 x 256 for every product, and a
# k-step of 32 — are in docs/GPU_KERNELS.md and this file's history; since v14 the host rewrites BM
# for its narrow blocks, so they no longer apply as written.)
# A k-step of 8 instead of 16: half the workgroup memory per workgroup, so more resident (on
# v10's 128 x 128 blocks: 6% slower on the matmul, 3% on seedtf @128, call 2).
bk8=(shaders/gemm_core.wgsl 's/\nconst BK: u32 = 16u;/\nconst BK: u32 = 8u;/'
    src/gpu/ops/gemm.rs 's/\npub const BLOCK_K: usize = 16;/\npub const BLOCK_K: usize = 8;/')
# Split k until 256 workgroups instead of 512 (of 256 invocations, or 128 in narrow blocks).
tg256=(src/gpu/ops/gemm.rs 's/\npub const TARGET_GROUPS: usize = 512;/\npub const TARGET_GROUPS: usize = 256;/')
# Unpadded, swizzled staging rows (ROW_PAD 0: what adapters with less than 16,896 bytes of
# workgroup memory get).
nopad=(shaders/gemm_core.wgsl 's/\nconst ROW_PAD: u32 = 1u;/\nconst ROW_PAD: u32 = 0u;/'
    shaders/gemm_core.wgsl 's/\nfn swizzled(kk: u32, q: u32) -> u32 { return q; }/\nfn swizzled(kk: u32, q: u32) -> u32 { return q ^ (kk \& 7u); }/')
# The GEMM kernels with wgpu's runtime checks too (as every kernel before v11).
checked=(src/gpu/kernel/compile.rs 's/let module = if kernel.is_gemm() {/let module = if false \&\& kernel.is_gemm() {/')
# The next k-step's loads issued before this step's arithmetic (into registers; WGSL has no
# asynchronous copy to workgroup memory) instead of after it: 6% slower in v12.
prefetch=(shaders/gemm_core.wgsl 's/\n        workgroupBarrier();\n        staged = load_step(lid, m0, n0, k0 + BK, k_end);\n    }/\n        workgroupBarrier();\n    }/'
    shaders/gemm_core.wgsl 's/\n        workgroupBarrier();\n        for (var kk/\n        workgroupBarrier();\n        staged = load_step(lid, m0, n0, k0 + BK, k_end);\n        for (var kk/')
# A diagnostic, not a kernel (its results are wrong): made-up values staged instead of loading
# A and B at all, for the time of the arithmetic and workgroup memory alone.
noload=(shaders/gemm_core.wgsl 's/return select(vec4(0.0), load_a4(m, min(k, k_end - 1u)), k < k_end);/return vec4(f32(k + m) * 1e-6);/'
    shaders/gemm_core.wgsl 's/return select(vec4(0.0), load_b4(min(k, k_end - 1u), n), k < k_end);/return vec4(f32(k + n) * 1e-6);/')

# want NAME: whether NAME was asked for (every variant when the command line names none).
want() { [ ${#names[@]} -eq 0 ] || [[ " ${names[*]} " == *" $1 "* ]]; }
names=("$@")
edits=(bk8 tg256 nopad checked prefetch noload)
known=" base v9 v11 v12 v13 v14 ${edits[*]} "
for name in "${names[@]}"; do
    if [[ "$known" != *" $name "* ]]; then
        echo "build_variants.sh: no variant named $name (known:$known)" >&2
        exit 1
    fi
done

want base && build base "$root"
# Earlier versions (docs/GPU_KERNELS.md): v9 before the batched staging, v11 before the
# branch-free loads, v12 with them in the convolutions' backward products too, v13 with padded
# staging rows, v14 with narrow blocks for products of at most 64 rows.
want v9 && at v9 d347370
want v11 && at v11 a1237a2
want v12 && at v12 a1cbe25
want v13 && at v13 7dc7aa9
want v14 && at v14 0a9e647
for v in "${edits[@]}"; do
    ref="$v[@]"
    want $v && variant $v "${!ref}"
done
true
