#!/usr/bin/env bash
# The real-GPU measurements in one run (for a lent NVIDIA machine with no Rust toolchain).
# Usage: benches/device_run.sh OUT_DIR BIN_DIR...   where each BIN_DIR holds a stripped
# `shadernet` and `kernels` (the `cargo bench --bench kernels` binary), plain or gzipped, built
# elsewhere (benches/build_variants.sh); each is run in turn so kernel versions are compared on
# the same warm machine (REPEATS sets the bench's runs per row, default 5). PYTORCH=1 adds
# PyTorch's numbers (benches/pytorch_reference.py). Full logs: OUT_DIR/<version>.txt.
set -uo pipefail
out=$1; shift
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,clocks.max.sm,clocks.sm,memory.total,driver_version --format=csv,noheader
started=$SECONDS
for dir in "$@"; do
    v=$(basename "$dir")
    log="$out/$v.txt"
    if [ -f "$dir/shadernet.gz" ]; then
        mkdir -p "/tmp/devbin/$v"
        for b in shadernet kernels; do
            gzip -dc "$dir/$b.gz" > "/tmp/devbin/$v/$b" && chmod +x "/tmp/devbin/$v/$b"
        done
        dir=/tmp/devbin/$v
    fi
    echo "=== $v"
    {
        timeout 120 "$dir/shadernet" verify 2>&1 | tail -3
        timeout 200 "$dir/shadernet" bench --backend gpu --repeats "${REPEATS:-5}" --json 2>&1
        timeout 200 "$dir/kernels" gpu 2>&1
    } > "$log"
    echo "($((SECONDS - started)) s since the start)"
    grep -E "checks|model" "$log" | sed 's/"backend":"gpu ([^)]*)",//'
    sed -n '/GPU matmul/,/^$/p' "$log" | tail -n +3
    grep "training step at batch" "$log"
done
if [ "${PYTORCH:-0}" = 1 ]; then
    echo "=== pytorch"
    timeout 200 python3 benches/pytorch_reference.py --device cuda 2>&1 | tee "$out/pytorch_cuda.jsonl"
fi
