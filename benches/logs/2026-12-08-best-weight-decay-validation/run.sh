#!/bin/bash
# The candidate arm only: `best` itself ran with the same binary arithmetic, seeds and split in
# ../2026-12-08-best-elastic-validation (run.sh there). /tmp/sn-wd is commit 6cb8b8e plus the
# prototype described in RULE.md; /tmp/valdata's t10k files are links to the training files.
cd /work/main
D=/work/main/benches/logs/2026-12-08-best-weight-decay-validation
mkdir -p /tmp/wdv
for seed in 1 2; do
  SHADERNET_PROTO_WD=0.05 /tmp/sn-wd train --model $D/best.txt --data /tmp/valdata --validation 10000 \
    --threads 1 --seed $seed --out /tmp/wdv/best-wd0.05-seed-$seed > /tmp/wdv/best-wd0.05-seed-$seed.log 2>&1 &
done
wait
echo done > /tmp/wdv/DONE
