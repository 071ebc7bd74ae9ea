#!/usr/bin/env bash
# Training runs on a lent GPU machine in one device call (issue 12, part 7: `best`'s seeds,
# `fast` to 99%, the report's long presets), for a machine with no Rust toolchain.
#
# Usage, from the repository root on the device machine:
#   benches/device_accuracy.sh OUT_DIR SHADERNET BUDGET_S JOB...
# SHADERNET is a release binary built here (plain or gzipped: `cargo build --release && strip
# -o .devrun/acc/shadernet target/release/shadernet && gzip -9 -f .devrun/acc/shadernet`).
# Each JOB is the arguments of one `shadernet train --backend gpu` run, most important first,
# for example  "--seeds 1-5"  "--model best --seeds 1-5"  "--model seedtf"  "--model seed11".
# The jobs run one after another (so each one's times are its own), and all of them together
# get BUDGET_S seconds of wall time: a job starts only while at least 20 s are left, and one
# still running when the budget ends is stopped; its run directory keeps the last finished
# epoch's checkpoint, which `train --resume` continues in a later call.
#
# What comes back (a device call returns at most 8 files): OUT_DIR/jobs.txt, each job's
# command, output and wall seconds; OUT_DIR/runs.tar.gz, every run directory (metrics, logs,
# summaries, plots, and the checkpoints of runs that were stopped, for --resume; the finished
# runs' checkpoints stay behind, as they are 4-7 MB each).
set -uo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out=$1 bin=$2 budget=$3
shift 3
mkdir -p "$out"
if [ "${bin%.gz}" != "$bin" ]; then
    gzip -dc "$bin" > /tmp/shadernet-acc && chmod +x /tmp/shadernet-acc && bin=/tmp/shadernet-acc
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
runs=/tmp/shadernet-acc-runs
rm -rf "$runs" && mkdir -p "$runs"
log="$out/jobs.txt"
{
    date -u
    nvidia-smi --query-gpu=name,clocks.max.sm,memory.total,driver_version --format=csv,noheader 2>&1
    lscpu | grep -E "^Model name|^CPU\(s\)"
    "$bin" info 2>&1 | head -20
} > "$log"
deadline=$((SECONDS + budget))
n=0
for job in "$@"; do
    n=$((n + 1))
    left=$((deadline - SECONDS))
    if [ "$left" -lt 20 ]; then
        echo "=== job $n: $job — not started, $left s of the budget left" | tee -a "$log"
        continue
    fi
    dir="$runs/job-$n"
    # A resumed run writes to its own directory (copied here afterwards); others get --out.
    resumed=$(echo "$job" | sed -n 's/.*--resume[ =]\([^ ]*\).*/\1/p')
    args="$job"
    [ -z "$resumed" ] && args="$job --out $dir"
    echo "=== job $n: shadernet train --backend gpu $args (budget left: $left s)" | tee -a "$log"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086 # each job is a list of arguments
    timeout "$left" "$bin" train --backend gpu $args > "$dir.txt" 2>&1
    rc=$?
    cat "$dir.txt" >> "$log"
    if [ -n "$resumed" ]; then
        [ -f "$resumed" ] && resumed=$(dirname "$resumed")
        cp -r "$resumed" "$dir"
    fi
    end=$(date +%s.%N)
    wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
    case $rc in
        0) echo "=== job $n finished: $wall s of wall time" | tee -a "$log" ;;
        124) echo "=== job $n stopped by the budget after $wall s; resume: --resume on its run directory" | tee -a "$log" ;;
        *) echo "=== job $n failed (exit $rc) after $wall s" | tee -a "$log" ;;
    esac
    if [ "$rc" = 0 ]; then
        find "$dir" -name '*.safetensors' -delete
    fi
    grep -E "test error" "$dir.txt"
done
tar -C "$runs" -czf "$out/runs.tar.gz" .
ls -l "$out"
