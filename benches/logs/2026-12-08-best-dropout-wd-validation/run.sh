#!/bin/bash
# The candidate arm only: `best` itself ran with the same arithmetic, seeds and split in
# ../2026-12-08-best-elastic-validation (run.sh there). /tmp/valdata's t10k files are links to
# the training files, so the test set is never read.
cd /work/main
D=/work/main/benches/logs/2026-12-08-best-dropout-wd-validation
mkdir -p /tmp/dwv
for seed in 1 2; do
  /tmp/sn-s15 train --model $D/best-dropout0.25-wd0.05.txt --data /tmp/valdata --validation 10000 \
    --threads 1 --seed $seed --out /tmp/dwv/best-dropout0.25-wd0.05-seed-$seed > /tmp/dwv/best-dropout0.25-wd0.05-seed-$seed.log 2>&1 &
done
wait
echo done > /tmp/dwv/DONE
