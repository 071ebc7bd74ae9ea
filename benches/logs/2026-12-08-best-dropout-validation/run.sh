#!/bin/bash
# The candidate arm only: `best` itself ran with the same arithmetic, seeds and split in
# ../2026-12-08-best-elastic-validation (run.sh there). /tmp/valdata's t10k files are links to
# the training files, so the test set is never read.
cd /work/main
D=/work/main/benches/logs/2026-12-08-best-dropout-validation
mkdir -p /tmp/dov
for seed in 1 2; do
  /tmp/sn-main train --model $D/best-dropout0.25.txt --data /tmp/valdata --validation 10000 \
    --threads 1 --seed $seed --out /tmp/dov/best-dropout0.25-seed-$seed > /tmp/dov/best-dropout0.25-seed-$seed.log 2>&1 &
done
wait
echo done > /tmp/dov/DONE
