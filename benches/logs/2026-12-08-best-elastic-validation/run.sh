#!/bin/bash
cd /work/main
D=/work/main/benches/logs/2026-12-08-best-elastic-validation
for seed in 1 2; do
  for arm in best best-elastic2; do
    mkdir -p /tmp/elv
    /tmp/sn-d204 train --model $D/$arm.txt --data /tmp/valdata --validation 10000 --threads 1 --seed $seed --out /tmp/elv/$arm-seed-$seed > /tmp/elv/$arm-seed-$seed.log 2>&1 &
  done
  wait
done
echo done > /tmp/elv/DONE
