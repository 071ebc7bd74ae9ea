#!/usr/bin/env bash
# Do two builds of shadernet train bit for bit the same? For refactors that must not change a
# number: trains small runs with each binary (CPU: seed1, seed8, seed9, seed12, seedtf and a
# network with every layer kind, 2 epochs; the GPU executor, on whatever adapter wgpu picks,
# lavapipe included: seed9 and that network, 1 epoch) on the first 3,000 training and 1,000
# test images of data/mnist, then compares each run's metrics (losses, errors, learning rates)
# and the bytes of every tensor of last.safetensors and best.safetensors.
#
#   benches/same_results.sh OLD_BINARY NEW_BINARY [WORK_DIR]
#
# Prints one digest line per run and binary, then "identical" (exit 0) or the differences.
set -euo pipefail
old=$1 new=$2 work=${3:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/data"
python3 "$here/same_results.py" subset "$here/../data/mnist" "$work/data" 3000 1000
cat > "$work/every_layer.txt" <<'NET'
conv 8 kernel=3 stride=1 padding=1
batchnorm
relu
maxpool 2 stride=2
dropout 0.2
conv 12 kernel=3 stride=2 padding=0
tanh
flatten
dense 32
batchnorm
relu
dropout 0.3
dense classes
softmax
loss cross_entropy
optimizer adam
lr 0.002
batch 32
epochs 2
init glorot
schedule constant
augment 0.5
NET
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
for side in old new; do
  bin=${!side}
  out="$work/$side"
  rm -rf "$out"; mkdir -p "$out"
  for m in seed1 seed8 seed9 seed12 seedtf "$work/every_layer.txt"; do
    name=cpu-$(basename "$m" .txt)
    "$bin" train --model "$m" --epochs 2 --data "$work/data" --validation 500 --seed 3 -q \
      --out "$out/$name" > "$out/$name.txt" 2>&1
  done
  for m in seed9 "$work/every_layer.txt"; do
    name=gpu-$(basename "$m" .txt)
    "$bin" train --model "$m" --epochs 1 --data "$work/data" --validation 500 --seed 3 -q \
      --backend gpu --out "$out/$name" > "$out/$name.txt" 2>&1
  done
  python3 "$here/same_results.py" digest "$out" > "$work/$side.digest"
done
cat "$work/old.digest"
if diff <(sed "s#$work/old#RUN#" "$work/old.digest") <(sed "s#$work/new#RUN#" "$work/new.digest"); then
  echo identical
else
  exit 1
fi
