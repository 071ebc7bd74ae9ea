#!/usr/bin/env bash
# The CPU executor against PyTorch on the CPU, side by side in one run on one machine
# (issue 14, part 1). Builds shadernet, prints the processor (lscpu's model name and flags),
# then alternates shadernet and PyTorch, both on the same number of threads, `--runs` times
# (the side that goes first alternates too) over:
#
#   - training-step rows: seed9 @16, seed12 @16, seed12 @128, seedtf @16, seedtf @128,
#     best @128 (`shadernet bench --backend cpu --json` against
#     `benches/pytorch_reference.py --device cpu`, the same steps per run: 1024/batch clamped
#     to 4..64, as `shadernet bench` picks; median of 5 runs each);
#   - with --epochs: one whole training epoch of the `best` recipe as a user runs it
#     (`shadernet train --model best --epochs 1 --validation 5000`, its metrics.jsonl
#     `train_seconds`, against `pytorch_reference.py --epochs 1`: MNIST, augmentation,
#     Adam, one-cycle, batch 128). With --epochs 1 the one-cycle schedule is compressed into
#     one epoch, which does not change the time.
#
# Then prints a table of medians and ratios: shadernet / PyTorch images per second for the
# rows, PyTorch seconds / shadernet seconds for the epoch (above 1: shadernet is faster).
#
#   benches/cpu_vs_pytorch.sh [--epochs] [--runs N] [--threads T] [--rows "seed9@16 best@128"]
#
# PyTorch comes from a virtual environment (PYTHON, default .venv-torch/bin/python):
#   python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy
# Never needed by the tests or CI. Run it with the machine otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/.."

EPOCHS=0
RUNS=3
THREADS=2
ROWS_ARG=
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) EPOCHS=1 ;;
        --runs) RUNS="$2"; shift ;;
        --threads) THREADS="$2"; shift ;;
        --rows) ROWS_ARG="$2"; shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
PYTHON=${PYTHON:-.venv-torch/bin/python}
ROWS_ARG=${ROWS_ARG:-seed9@16 seed12@16 seed12@128 seedtf@16 seedtf@128 best@128}
ROWS=()
for row in $ROWS_ARG; do ROWS+=("${row%@*} ${row#*@}"); done

if [ ! -x "$PYTHON" ]; then
    echo "no PyTorch interpreter at $PYTHON (python3 -m venv .venv-torch &&" \
        ".venv-torch/bin/pip install torch numpy, or set PYTHON)" >&2
    exit 1
fi

cargo build --release --quiet
BIN=target/release/shadernet
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.tsv"
: > "$RESULTS"

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (with uncommitted changes to src)')"
echo "== lscpu"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Flags):' | sed 's/  */ /g'
echo "== $("$PYTHON" -c 'import torch; print("PyTorch", torch.__version__)'), $THREADS threads each side, $RUNS alternating runs$([ "$EPOCHS" = 1 ] && echo ', with the best epoch')"

# The field `key` of the last JSON line of stdin that has it.
field() {
    python3 -c '
import json, sys
value = None
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        row = json.loads(line)
        if sys.argv[1] in row:
            value = row[sys.argv[1]]
if value is None:
    sys.exit("no " + sys.argv[1] + " in the output")
print(value)' "$1"
}

shadernet_row() { # model batch steps
    "$BIN" bench --backend cpu --threads "$THREADS" --model "$1" --batch-size "$2" \
        --steps "$3" --json | field images_per_s
}
pytorch_row() { # model batch steps
    "$PYTHON" benches/pytorch_reference.py --device cpu --threads "$THREADS" --models "$1" \
        --batches "$2" --steps "$3" --sgemm-size 0 | field images_per_s
}
shadernet_epoch() {
    local out="$WORK/run-$RANDOM$RANDOM"
    "$BIN" train --model best --epochs 1 --validation 5000 --threads "$THREADS" \
        --out "$out" -q > "$WORK/train.log" 2>&1 || { cat "$WORK/train.log" >&2; return 1; }
    field train_seconds < "$out/metrics.jsonl"
    rm -rf "$out"
}
pytorch_epoch() {
    "$PYTHON" benches/pytorch_reference.py --device cpu --threads "$THREADS" --epochs 1 \
        --data data/mnist --validation 5000 | field train_seconds
}

record() { # side row value
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"
    printf '  %-10s %-12s %s\n' "$1" "$2" "$3"
}

for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then order="shadernet pytorch"; else order="pytorch shadernet"; fi
    echo "== run $run of $RUNS (first: ${order%% *})"
    for row in "${ROWS[@]}"; do
        set -- $row
        steps=$((1024 / $2)); steps=$((steps < 4 ? 4 : steps > 64 ? 64 : steps))
        for side in $order; do
            record "$side" "$1@$2" "$("${side}_row" "$1" "$2" "$steps")"
        done
    done
    if [ "$EPOCHS" = 1 ]; then
        for side in $order; do
            record "$side" "best-epoch" "$("${side}_epoch")"
        done
    fi
done

echo "== medians ($RUNS runs; images/s for rows, training seconds for the epoch)"
python3 - "$RESULTS" <<'EOF'
import statistics, sys
values = {}
for line in open(sys.argv[1]):
    side, row, value = line.rstrip("\n").split("\t")
    values.setdefault(row, {}).setdefault(side, []).append(float(value))
print("| network @ batch | shadernet CPU | PyTorch | ratio | shadernet runs | PyTorch runs |")
print("|---|---|---|---|---|---|")
for row, sides in values.items():
    s, p = statistics.median(sides["shadernet"]), statistics.median(sides["pytorch"])
    runs = lambda xs: ", ".join(f"{x:,.1f}" for x in xs)
    if row == "best-epoch":
        name, ratio, unit = "best, whole epoch (s)", p / s, " s"
        cells = f"{s:,.1f} s | {p:,.1f} s"
    else:
        name, ratio = row.replace("@", " @"), s / p
        cells = f"{s:,.0f} | {p:,.0f}"
    print(f"| {name} | {cells} | {ratio:.2f} | {runs(sides['shadernet'])} | {runs(sides['pytorch'])} |")
print("ratio: shadernet / PyTorch images per second; for the epoch, PyTorch seconds / shadernet"
      " seconds (above 1: shadernet is faster)")
EOF
