#!/usr/bin/env bash
# Issue 13's hostile-user pass: 120+ cases in five classes (run directories and resume, output
# streams, memory and time bounds, bad values, messages), none of them the issue's own examples.
# Each case gets a scratch directory under $HOSTILE_DIR (default /tmp/shadernet-hostile), is set
# up there, and runs shadernet under `timeout -s KILL` ($HOSTILE_TIMEOUT, default 60 s), a
# 12 GiB address-space cap and SHADERNET_MEMORY_LIMIT=10G. Recorded per case: the command, the exit code, the first line of
# stderr and the verdicts:
#   PANIC      stderr says "panicked" or the exit is 101, 134 (abort) or 139 (segfault)
#   HUNG       killed by the timeout
#   CHANGED    a file outside the paths a case may write (top-level out*, run, runs) changed,
#              appeared or went (the fixtures shared by all cases are checked at the end too)
#   NAN-SAVED  a checkpoint the case wrote holds NaN or infinity
#   EXIT       the exit code is not the expected one (0, non-zero, or exactly 1 or 2)
#   MSG        stderr does not match the expected words (the file, flag or value it must name)
#   POST       the case's own after-check failed (e.g. the checkpoint was still saved)
#
# Usage: benches/hostile/run.sh [ID_REGEX]   prints the markdown table on stdout.
# Uses bash, python3 (standard library), timeout, setpriv, flock, script, mkfifo, gzip.
# SHADERNET_BIN picks the binary (default target/release/shadernet; build it first).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/benches/hostile
WORK=${HOSTILE_DIR:-/tmp/shadernet-hostile}
TIMEOUT=${HOSTILE_TIMEOUT:-60}
FILTER=${1:-.}
BIN=${SHADERNET_BIN:-$ROOT/target/release/shadernet}
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build --release first" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/bin" "$WORK/fixtures"
chmod 755 "$WORK" "$WORK/bin" "$WORK/fixtures"
# A copy, so that a rebuild during the pass does not swap binaries between cases.
cp "$BIN" "$WORK/bin/shadernet"
export SN=$WORK/bin/shadernet
export MK="python3 $HERE/make.py"
export FX=$WORK/fixtures
export DATA=$FX/data NET=$FX/net.txt RUN=$FX/run CK=$FX/run/best.safetensors PIC=$FX/seven.png
export TR="$SN train --model $NET --data $DATA --validation 10 --threads 1"
# The memory limit stays below the 12 GiB address-space cap every case runs under, so that an
# allocation failure is shadernet's estimate going wrong, not the cap (M06-M08 set their own).
export SHADERNET_MEMORY_LIMIT=10G

# Fixtures: a 28x28 three-class synthetic set, a tiny network, a finished 2-epoch run.
$MK data "$DATA"
printf 'flatten\ndense 8\nrelu\ndense classes\nsoftmax\nepochs 2\nbatch 8\n' >"$NET"
cp "$ROOT/data/examples/seven.png" "$PIC"
$TR --out "$RUN" --quiet >/dev/null || { echo "fixture run failed" >&2; exit 1; }
chmod -R a+rX "$FX"
FIXTURE_SUMS=$($MK sums "$FX")

ROWS=()
declare -A TOTAL BAD

# hc ID "summary" EXPECT 'STDERR_REGEX' 'SETUP' 'COMMAND' ['POST_CHECK']
# EXPECT: 0, nz (non-zero), 1, 2 or any. SETUP, COMMAND and POST_CHECK run in the case's
# directory (bash; POST_CHECK must succeed). The regex is extended, case-insensitive.
hc() {
    local id=$1 summary=$2 expect=$3 regex=$4 setup=$5 cmd=$6 post=${7:-}
    [[ $id =~ $FILTER ]] || return 0
    local d=$WORK/$id class=${id%%[0-9]*}
    mkdir -p "$d" && chmod 755 "$d"
    local verdict=()
    if ! (cd "$d" && bash -ec "$setup") >"$d.setup.log" 2>&1; then
        verdict+=("SETUP-FAILED")
    fi
    local before after
    before=$($MK sums "$d")
    local t0=$SECONDS
    (cd "$d" && timeout -s KILL "$TIMEOUT" bash -c "ulimit -v 12582912; set -o pipefail; $cmd" \
        >"$d.stdout" 2>"$d.stderr")
    local rc=$? elapsed=$((SECONDS - t0))
    after=$($MK sums "$d")
    if grep -q panicked "$d.stderr" || [[ $rc == 101 || $rc == 134 || $rc == 139 ]]; then
        verdict+=("PANIC")
    fi
    if [[ $rc == 137 && $elapsed -ge $((TIMEOUT - 1)) ]]; then verdict+=("HUNG"); fi
    local protected='^(out[^/	]*|run|runs)(/|	)'
    local changed
    changed=$(diff <(grep -Ev "$protected" <<<"$before") <(grep -Ev "$protected" <<<"$after") |
        grep '^[<>]' | cut -f1 | cut -c3- | grep -v '^$' | sort -u | tr '\n' ' ')
    [ -n "$changed" ] && verdict+=("CHANGED($changed)")
    local written
    written=$(diff <(echo "$before") <(echo "$after") | grep '^>' | cut -c3- |
        awk -F'\t' '$2 == "file" && $1 ~ /\.safetensors$/ {print $1}')
    if [ -n "$written" ]; then
        local nan
        nan=$(cd "$d" && $MK nanscan $written)
        [ -n "$nan" ] && verdict+=("NAN-SAVED($nan)")
    fi
    case $expect in
        0) [[ $rc == 0 ]] || verdict+=("EXIT(expected 0)") ;;
        nz) [[ $rc != 0 ]] || verdict+=("EXIT(expected non-zero)") ;;
        1 | 2) [[ $rc == "$expect" ]] || verdict+=("EXIT(expected $expect)") ;;
    esac
    if [ -n "$regex" ] && ! grep -Eiq -- "$regex" "$d.stderr"; then verdict+=("MSG(/$regex/)"); fi
    if [ -n "$post" ] && ! (cd "$d" && bash -c "$post") >/dev/null 2>&1; then
        verdict+=("POST($post)")
    fi
    local first
    first=$(grep -m1 -v '^[[:space:]]*$' "$d.stderr" | tr -d '\r' | cut -c1-100)
    local shown=${cmd//\$SN/shadernet}
    shown=$(tr -s ' \n' '  ' <<<"$shown" | cut -c1-150)
    TOTAL[$class]=$((${TOTAL[$class]:-0} + 1))
    local v="ok"
    if [ ${#verdict[@]} -gt 0 ]; then
        v=$(IFS=,; echo "**${verdict[*]}**")
        BAD[$class]=$((${BAD[$class]:-0} + 1))
    fi
    ROWS+=("| $id | ${summary//|/\\|} | \`${shown//|/\\|}\` | $rc | $elapsed | ${first//|/\\|} | ${v//|/\\|} |")
}

# ---------------------------------------------------------------------------------------------
# R: run directories and resume
hc R01 "--out names a regular file of the user's" nz 'notes\.txt' \
    'echo mine > notes.txt' '$TR --out notes.txt'
hc R02 "--out names a FIFO" nz 'pipe' 'mkfifo pipe' '$TR --out pipe'
hc R03 "--out inside a read-only directory (unprivileged user)" nz 'ro/run' \
    'mkdir ro && chmod 555 ro' \
    'setpriv --reuid=65534 --regid=65534 --clear-groups $TR --out ro/run'
hc R04 "--out is a symlink to the user's non-empty directory" nz 'a\.txt' \
    'mkdir mine && echo x > mine/a.txt && ln -s mine out' '$TR --out out'
hc R05 "--out is a dangling symlink" any '' 'ln -s nowhere/deeper out' '$TR --out out'
hc R06 "--out holds only a hidden file" nz '\.hidden' 'mkdir out && touch out/.hidden' \
    '$TR --out out'
hc R07 "--out spelled with .. into the user's directory" nz 'a\.txt' \
    'mkdir -p mine sub && echo x > mine/a.txt' '$TR --out sub/../mine'
hc R08 "--out is the empty string" nz 'out' '' '$TR --out ""'
hc R09 "--out under /proc (cannot be created)" nz '/proc/self/hostile' '' \
    '$TR --out /proc/self/hostile'
hc R10 "--resume after the user edited network.txt (dense 8 -> 16)" any '' \
    'cp -r $RUN run && sed -i "s/dense 8$/dense 16/" run/network.txt' \
    '$SN train --resume run --epochs 3 --quiet' \
    'grep -q "^dense 8" run/network.txt || ! grep -q "^epoch *3" run/metrics.csv'
hc R11 "--resume of a run whose last.safetensors was deleted" nz 'last\.safetensors' \
    'cp -r $RUN run && rm run/last.safetensors' '$SN train --resume run --epochs 3'
hc R12 "--resume: command.txt is a symlink to a user's file" any '' \
    'echo mine > mine.txt && cp -r $RUN run && rm run/command.txt && ln -s ../mine.txt run/command.txt' \
    '$SN train --resume run --epochs 3 --quiet'
hc R13 "--resume: .lock is a symlink to a user's file" any '' \
    'echo mine > mine.txt && cp -r $RUN run && rm -f run/.lock && ln -s ../mine.txt run/.lock' \
    '$SN train --resume run --epochs 3 --quiet'
hc R14 "--resume: last.safetensors is a directory" nz 'last\.safetensors is not a regular file' \
    'cp -r $RUN run && rm run/last.safetensors && mkdir run/last.safetensors' \
    '$SN train --resume run --epochs 3'
hc R15 "--resume: last.safetensors cut to half" nz 'last\.safetensors' \
    'cp -r $RUN run && truncate -s $(($(stat -c%s run/last.safetensors)/2)) run/last.safetensors' \
    '$SN train --resume run --epochs 3'
hc R16 "--resume while another process holds the run's lock" nz 'in use' \
    'cp -r $RUN run' \
    'flock run/.lock sleep 3 & sleep 0.5; $SN train --resume run --epochs 3; rc=$?; wait; exit $rc'
hc R17 "--resume of an empty directory" nz 'run' 'mkdir run' '$SN train --resume run'
hc R18 "--resume with --out naming another directory" any '' 'cp -r $RUN run' \
    '$SN train --resume run --epochs 3 --out out2 --quiet' \
    '[ ! -e out2 ] || [ -z "$(ls -A out2)" ] || ! [ -e run/.lock -a "$(grep -c "" run/metrics.csv)" = 4 ]'
hc R19 "--seeds into an --out that is a file" nz 'notes\.txt' 'echo mine > notes.txt' \
    '$TR --seeds 1-2 --out notes.txt'
hc R20 "--resume of a finished run with the same --epochs" 0 '' 'cp -r $RUN run' \
    '$SN train --resume run --epochs 2 --quiet' 'cmp run/network.txt $RUN/network.txt'
hc R21 "--out a deep absent path" 0 '' '' '$TR --out out/a/b/c/d --quiet' \
    'test -s out/a/b/c/d/last.safetensors'
hc R22 "--resume from a best.safetensors whose epoch disagrees with its history" any '' \
    'cp -r $RUN run && $MK ckpt run/best.safetensors run/best.safetensors --meta epoch 1' \
    '$SN train --resume run/best.safetensors --epochs 3 --quiet'
hc R23 "--resume spelled run/." 0 '' 'cp -r $RUN run' '$SN train --resume run/. --epochs 3 --quiet' \
    'test "$(grep -c "" run/metrics.csv)" -ge 4'
hc R24 "--out whose name holds a newline" 0 '' '' '$TR --out "$(printf "out\nx")" --quiet' \
    'test -s "$(printf "out\nx")/last.safetensors"'
hc R25 "two --resume of one run at the same moment" any '' 'cp -r $RUN run' \
    '$SN train --resume run --epochs 20 --quiet & $SN train --resume run --epochs 20 --quiet; a=$?; wait $!; b=$?; echo "exits $a $b" >&2; [ $a = 0 -o $b = 0 ] && [ $a != 0 -o $b != 0 ]'
hc R26 "--resume of a run dir whose .lock is a directory" nz 'lock' \
    'cp -r $RUN run && rm -f run/.lock && mkdir run/.lock' '$SN train --resume run --epochs 3'
hc R27 "--resume of a run whose command.txt is a FIFO" nz 'command\.txt is not a regular file' \
    'cp -r $RUN run && rm run/command.txt && mkfifo run/command.txt' '$SN train --resume run --epochs 3'
hc R28 "--out empty but for a .lock that links to a user's file" nz '\.lock' \
    'echo mine > mine.txt && mkdir out && ln -s ../mine.txt out/.lock' '$TR --out out'

# ---------------------------------------------------------------------------------------------
# O: output streams
hc O01 "eval into a pipe closed after one byte" 0 '' '' \
    '$SN eval --checkpoint $CK --data $DATA | head -c 1 >/dev/null'
hc O02 "models of a network file into /dev/full" 1 'stdout|space' '' '$SN models $NET >/dev/full'
hc O03 "info into /dev/full" nz '' '' '$SN info >/dev/full'
hc O04 "train with stdout closed" any '' '' '$TR --out out >&-' 'test -s out/last.safetensors'
hc O05 "train with stderr closed" 0 '' '' '$TR --out out 2>&-' 'test -s out/last.safetensors'
hc O06 "train with stdout opened read-only" any '' '' '$TR --out out 1</dev/null' \
    'test -s out/last.safetensors'
hc O07 "bench into a pipe closed after one byte" 0 '' '' \
    '$SN bench --model $NET --batch-size 4 --steps 1 --repeats 1 | head -c 1 >/dev/null'
hc O08 "predict --json into /dev/full" 1 'stdout|space' '' \
    '$SN predict --checkpoint $CK $PIC --json >/dev/full'
hc O09 "--help into a pipe closed after one byte" 0 '' '' '$SN --help | head -c 1 >/dev/null'
hc O10 "--version into /dev/full" any '' '' '$SN --version >/dev/full'
hc O11 "a usage error with stderr on /dev/full" 2 '' '' '$SN train --bogus 2>/dev/full'
hc O12 "a failing command with stderr closed" 1 '' '' '$SN models nonexistent.txt 2>&-'
hc O13 "augment --out /dev/stdout into a pipe" any '' '' \
    '$SN augment --out /dev/stdout --data $DATA | head -c 10 >/dev/null' \
    '! ls -a /dev | grep -q "stdout\..*\.tmp"'
hc O14 "augment --out /dev/full" nz '/dev/full' '' '$SN augment --out /dev/full --data $DATA' \
    '! ls -a /dev | grep -q "full\..*\.tmp"'
hc O15 "train with stdin closed" 0 '' '' '$TR --out out <&-' 'test -s out/last.safetensors'
hc O16 "train on a 5-column terminal (progress line)" 0 '' '' \
    'COLUMNS=5 script -qec "$TR --out out" /dev/null >/dev/null' 'test -s out/last.safetensors'
hc O17 "--seeds into head -n 1" 0 '' '' '$TR --seeds 1-2 --out out | head -n 1 >/dev/null' \
    'test -s out/summary.json'
hc O18 "bench --json into /dev/full" 1 'stdout|space' '' \
    '$SN bench --model $NET --batch-size 4 --steps 1 --repeats 1 --json >/dev/full'
hc O19 "eval --json with stdout closed (std reopens it on /dev/null)" 0 '' '' '$SN eval --checkpoint $CK --data $DATA --json >&-'
hc O20 "predict: a closed pipe and a missing second picture" 1 'nope\.png' '' \
    '$SN predict --checkpoint $CK $PIC nope.png | head -c 1 >/dev/null'
hc O21 "resume on other threads with stderr on /dev/full (the note)" 0 '' 'cp -r $RUN run' \
    '$SN train --resume run --threads 2 --epochs 3 --quiet 2>/dev/full' \
    'test "$(grep -c "" run/metrics.csv)" = 4'
hc O22 "train with stdout and stderr both /dev/full" any '' '' \
    '$TR --out out >/dev/full 2>/dev/full' 'test -s out/last.safetensors'
hc O23 "models (every preset) into a pipe closed at once" 0 '' '' '$SN models | true'

# ---------------------------------------------------------------------------------------------
# M: memory and time bounds
hc M01 "--memory-limit 0" nz 'memory' '' '$TR --out out --memory-limit 0' '[ ! -e out ]'
hc M02 "--memory-limit 1 (one byte)" nz 'memory' '' '$TR --out out --memory-limit 1' \
    '[ ! -e out ] || [ -z "$(ls -A out)" ]'
hc M03 "--memory-limit 2^64 bytes" nz 'memory-limit' '' \
    '$TR --out out --memory-limit 18446744073709551616'
hc M04 "--memory-limit 1e3G" any '' '' '$TR --out out --memory-limit 1e3G --quiet'
hc M05 "--memory-limit -1G" 2 'memory-limit' '' '$TR --out out --memory-limit -1G'
hc M06 "SHADERNET_MEMORY_LIMIT set but empty" any '' '' \
    'SHADERNET_MEMORY_LIMIT= $TR --out out --quiet'
hc M07 "SHADERNET_MEMORY_LIMIT=lots" nz 'SHADERNET_MEMORY_LIMIT' '' \
    'SHADERNET_MEMORY_LIMIT=lots $TR --out out'
hc M08 "SHADERNET_MEMORY_LIMIT=1K but --memory-limit 1G" 0 '' '' \
    'SHADERNET_MEMORY_LIMIT=1K $TR --out out --memory-limit 1G --quiet'
hc M09 "conv 1048576 kernel=1 on 28x28" nz 'layer 3|memory' \
    'printf "conv 1048576 kernel=1\nflatten\ndense classes\nsoftmax\n" > big.txt' \
    '$SN train --model big.txt --data $DATA --validation 10 --out out' '[ ! -e out ] || [ -z "$(ls -A out)" ]'
hc M10 "ten conv 4096 kernel=3 layers (each tensor within bounds)" nz 'memory|GiB|TiB' \
    '(for i in $(seq 10); do echo "conv 4096 kernel=3"; done; printf "flatten\ndense classes\nsoftmax\n") > big.txt' \
    '$SN bench --model big.txt --batch-size 1 --steps 1 --repeats 1'
hc M11 "IDX header claiming 4 GiB in a 1 KB file" nz 'train-images' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte 65536,256,256 --bytes 1000' \
    '$SN train --model $NET --data d --out out'
hc M12 "IDX header with 255 dimensions" nz 'train-images' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte $(python3 -c "print(\",\".join([\"1\"]*255))")' \
    '$SN train --model $NET --data d --out out'
hc M13 "predict on an 8192x8192 PNG (at the limit)" 0 '' '$MK png big.png 8192 8192' \
    '$SN predict --checkpoint $CK big.png'
hc M14 "predict on a 1x8192 PNG (one pixel wide)" any '' '$MK png thin.png 1 8192 --value 0' \
    '$SN predict --checkpoint $CK thin.png'
hc M15 "predict on a 4000x4000 16-bit RGBA PNG" 0 '' \
    '$MK png big.png 4000 4000 --bits 16 --color rgba' '$SN predict --checkpoint $CK big.png'
hc M16 "gzip of 20000 empty members before the data" 0 '' \
    'cp -r $DATA d && (for i in $(seq 20000); do printf "" | gzip -c; done; gzip -c d/train-images-idx3-ubyte) > d/train-images-idx3-ubyte.gz && rm d/train-images-idx3-ubyte' \
    '$SN train --model $NET --data d --validation 10 --out out --quiet'
hc M17 "a network file of 16 MiB + 1 byte of comments" nz 'MiB|large' \
    'python3 -c "import sys; sys.stdout.write((\"#\" * 1023 + \"\n\") * 16384 + \"#\")" > big.txt' \
    '$SN models big.txt'
hc M18 "1000 relu layers" 0 '' \
    '(echo flatten; for i in $(seq 997); do echo relu; done; echo dense classes; echo softmax; echo epochs 1) > deep.txt' \
    '$SN train --model deep.txt --data $DATA --validation 10 --out out --quiet'
hc M19 "1001 layers" nz '1000|1,000' \
    '(echo flatten; for i in $(seq 998); do echo relu; done; echo dense classes; echo softmax) > deep.txt' \
    '$SN models deep.txt'
hc M20 "bench --batch-size 65536 on the tiny network" 0 '' '' \
    '$SN bench --model $NET --batch-size 65536 --steps 1 --repeats 1'
hc M21 "--batch-size 65536 --threads 64 on 50 images" 0 '' '' \
    '$SN train --model $NET --data $DATA --validation 10 --out out --batch-size 65536 --threads 64 --quiet'
hc M22 "eval: checkpoint whose network metadata claims three dense 1048576" nz 'best\.safetensors|ck\.safetensors' \
    '$MK ckpt $CK ck.safetensors --meta network "$(printf "flatten\ndense 1048576\ndense 1048576\ndense 1048576\ndense classes\nsoftmax\n")"' \
    '$SN eval --checkpoint ck.safetensors --data $DATA'
hc M23 "augment --count 1000 on 60 images" 0 '' '' \
    '$SN augment --count 1000 --data $DATA --out out.png' 'test -s out.png'
hc M24 "--threads 64 --batch-size 1" 0 '' '' '$SN train --model $NET --data $DATA --validation 10 --out out --threads 64 --batch-size 1 --quiet'
hc M25 "bench seedtf at batch 65536 on the GPU executor" any '' '' \
    '$SN bench --backend gpu --model seedtf --batch-size 65536 --steps 1 --repeats 1'
hc M26 "IDX of 60 images of 65535x1 pixels" nz '' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte 60,65535,1 --fill 7' \
    '$SN train --model $NET --data d --out out'
hc M27 "eval --checkpoint /dev/zero" nz '/dev/zero' '' '$SN eval --checkpoint /dev/zero --data $DATA'
hc M28 "predict on /dev/zero as a picture" nz '/dev/zero' '' '$SN predict --checkpoint $CK /dev/zero'
hc M29 "models /dev/urandom" nz '/dev/urandom' '' '$SN models /dev/urandom'

# ---------------------------------------------------------------------------------------------
# V: bad values (data, flags, network files, checkpoints, pictures)
hc V01 "IDX sets of zero images" nz 'train-images|no training|empty' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte 0,28,28 && $MK idx d/train-labels-idx1-ubyte 0' \
    '$SN train --model $NET --data d --out out'
hc V02 "images of 0x0 pixels" nz 'train-images' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte 60,0,0' '$SN train --model $NET --data d --out out'
hc V03 "a set of 1x1 images" 0 '' \
    '$MK data d --size 1 1 && printf "flatten\ndense classes\nsoftmax\nepochs 1\n" > n.txt' \
    '$SN train --model n.txt --data d --validation 10 --out out --quiet'
hc V04 "labels file shorter than the images" nz 'train-labels' \
    'cp -r $DATA d && $MK idx d/train-labels-idx1-ubyte 50' '$SN train --model $NET --data d --out out'
hc V05 "a 2-D labels file" nz 'train-labels' \
    'cp -r $DATA d && $MK idx d/train-labels-idx1-ubyte 60,1' '$SN train --model $NET --data d --out out'
hc V06 "images of type float (0x0D)" nz 'train-images' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte 60,28,28 --dtype 0x0D --bytes 188160' \
    '$SN train --model $NET --data d --out out'
hc V07 "a 1-D images file" nz 'train-images' \
    'cp -r $DATA d && $MK idx d/train-images-idx3-ubyte 47040' '$SN train --model $NET --data d --out out'
hc V08 "every training label 0 (one class)" nz 'class' \
    'cp -r $DATA d && $MK idx d/train-labels-idx1-ubyte 60 --fill 0' '$SN train --model $NET --data d --out out'
hc V09 "a test label beyond the training classes" nz 't10k-labels' \
    'cp -r $DATA d && $MK idx d/t10k-labels-idx1-ubyte 30 --fill 7' '$SN train --model $NET --data d --out out'
hc V10 "predict on a JPEG named .png" any '' '$MK jpeg x.png' '$SN predict --checkpoint $CK x.png'
hc V11 "predict on a 0-byte picture" nz 'empty\.png' 'touch empty.png' '$SN predict --checkpoint $CK empty.png'
hc V12 "--model names a directory" nz 'netdir' 'mkdir netdir' '$SN train --model netdir --data $DATA --out out'
hc V13 "--model names a FIFO with no writer" nz 'fifo' 'mkfifo fifo.txt' \
    '$SN train --model fifo.txt --data $DATA --out out'
hc V14 "--checkpoint names a FIFO with no writer" nz 'fifo' 'mkfifo fifo.safetensors' \
    '$SN eval --checkpoint fifo.safetensors --data $DATA'
hc V15 "network file separated by tabs" any '' \
    'printf "flatten\ndense\t8\nrelu\ndense\tclasses\nsoftmax\nepochs\t1\n" > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --quiet'
hc V16 "network file with CRLF line ends" 0 '' \
    'printf "flatten\r\ndense 8\r\nrelu\r\ndense classes\r\nsoftmax\r\nepochs 1\r\n" > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --quiet'
hc V17 "network file with a 1 MB comment line" 0 '' \
    '(echo flatten; python3 -c "print(\"# \" + \"x\" * 1000000)"; echo "dense classes # $(head -c 100000 /dev/zero | tr "\0" y)"; echo softmax; echo epochs 1) > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --quiet'
hc V18 "predict on a 16-bit grey PNG" 0 '' '$MK png p.png 40 40 --bits 16' '$SN predict --checkpoint $CK p.png'
hc V19 "predict on a fully transparent RGBA PNG" any '' '$MK png p.png 28 28 --color rgba --alpha 0' \
    '$SN predict --checkpoint $CK p.png'
hc V20 "predict on a blank white picture (no ink)" any '' '$MK png p.png 28 28 --value 255' \
    '$SN predict --checkpoint $CK p.png'
hc V21 "predict on a 1x1 picture" any '' '$MK png p.png 1 1 --value 0' '$SN predict --checkpoint $CK p.png'
hc V22 "eval: a checkpoint with a renamed tensor" nz '1\.weight|ck\.safetensors' \
    '$MK ckpt $CK ck.safetensors --rename 1.weight 1.wieght' '$SN eval --checkpoint ck.safetensors --data $DATA'
hc V23 "eval: checkpoint metadata classes=0" nz 'class' \
    '$MK ckpt $CK ck.safetensors --meta classes 0' '$SN eval --checkpoint ck.safetensors --data $DATA'
hc V24 "eval: checkpoint input_shape 0,0,0" nz 'input' \
    '$MK ckpt $CK ck.safetensors --meta input_shape 0,0,0' '$SN eval --checkpoint ck.safetensors --data $DATA'
hc V25 "resume: checkpoint epoch = 2^64-1" nz 'epoch' \
    'cp -r $RUN run && $MK ckpt run/last.safetensors run/last.safetensors --meta epoch 18446744073709551615' \
    '$SN train --resume run --epochs 3'
hc V26 "eval: a weight stored as F16" nz '1\.weight|dtype|F16' \
    '$MK ckpt $CK ck.safetensors --dtype 1.weight F16' '$SN eval --checkpoint ck.safetensors --data $DATA'
hc V27 "resume: NaN in Adam's first moment" nz 'optimizer\.m|NaN|finite' \
    'cp -r $RUN run && $MK ckpt run/last.safetensors run/last.safetensors --nan optimizer.m.1.weight' \
    '$SN train --resume run --epochs 3'
hc V28 "--seed 2^64-1" 0 '' '' '$TR --out out --seed 18446744073709551615 --quiet'
hc V29 "--lr 1e-45 (a subnormal float)" any '' '' '$TR --out out --lr 1e-45 --quiet'
hc V30 "dropout 0.9999999" any '' \
    'printf "flatten\ndense 8\nrelu\ndropout 0.9999999\ndense classes\nsoftmax\nepochs 2\n" > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --quiet'
hc V31 "optimizer sgd with lr 1e30" 1 'epoch|finite|NaN' \
    'printf "flatten\ndense 8\nrelu\ndense classes\nsoftmax\noptimizer sgd\nlr 1e30\nepochs 2\n" > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --quiet'
hc V32 "batchnorm at batch 1" 0 '' \
    'printf "flatten\ndense 8\nbatchnorm\nrelu\ndense classes\nsoftmax\nbatch 1\nepochs 1\n" > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --quiet'
hc V33 "loss mse with --lr 1e6" any '' \
    'printf "flatten\ndense 8\nrelu\ndense classes\nloss mse\noptimizer sgd\nepochs 2\n" > n.txt' \
    '$SN train --model n.txt --data $DATA --validation 10 --out out --lr 1e6 --quiet'
hc V34 "predict on a BMP" nz 'p\.bmp' '$MK bmp p.bmp' '$SN predict --checkpoint $CK p.bmp'
hc V35 "--checkpoint names a network.txt" nz 'network\.txt' '' \
    '$SN eval --checkpoint $RUN/network.txt --data $DATA'
hc V36 "eval on test images of 7x7" nz 't10k-images|7x7|28' '$MK data d --size 7 7' \
    '$SN eval --checkpoint $CK --data d'
hc V37 "--classes 2 with labels up to 2" nz 'classes' '' '$TR --out out --classes 2'
hc V38 "--validation 59 (leaves one training image)" 0 '' '' \
    '$SN train --model $NET --data $DATA --out out --validation 59 --quiet'
hc V39 "eval: checkpoint's data directory gone, no --data" nz 'gone' \
    '$MK ckpt $CK ck.safetensors --meta data $PWD/gone' '$SN eval --checkpoint ck.safetensors'
hc V40 "gzip images with a damaged body" nz 'train-images' \
    'cp -r $DATA d && gzip d/train-images-idx3-ubyte && printf "\xff\xff\xff\xff" | dd of=d/train-images-idx3-ubyte.gz bs=1 seek=30 conv=notrunc' \
    '$SN train --model $NET --data d --out out'
hc V41 "eval: a weight with a shape of (8, 0)" nz '1\.weight' \
    '$MK ckpt $CK ck.safetensors --shape 1.weight 8,0' '$SN eval --checkpoint ck.safetensors --data $DATA'
hc V42 "predict on a FIFO named as a picture" nz 'pic\.png' 'mkfifo pic.png' '$SN predict --checkpoint $CK pic.png'
hc V43 "augment --out a directory" nz 'outdir' 'mkdir outdir' '$SN augment --data $DATA --out outdir'

# ---------------------------------------------------------------------------------------------
# E: messages (the regex is what the message must say)
hc E01 "a misspelt command" 2 "trian" '' '$SN trian'
hc E02 "--model names no preset and no file" nz 'nosuchpreset.*(preset|file)|(preset|file).*nosuchpreset' '' \
    '$SN train --model nosuchpreset --data $DATA --out out'
hc E03 "--model names a checkpoint" nz 'best\.safetensors' '' '$SN train --model $CK --data $DATA --out out'
hc E04 "--data names a file" nz 'notes\.txt' 'echo x > notes.txt' '$SN train --model $NET --data notes.txt --out out'
hc E05 "--data lacks t10k-labels" nz 't10k-labels' \
    'cp -r $DATA d && rm d/t10k-labels-idx1-ubyte' '$SN train --model $NET --data d --out out'
hc E06 "eval of a missing checkpoint" nz 'missing\.safetensors' '' '$SN eval --checkpoint missing.safetensors --data $DATA'
hc E07 "predict without pictures" nz 'picture|image' '' '$SN predict --checkpoint $CK'
hc E08 "predict on a missing picture" nz 'nope\.png' '' '$SN predict --checkpoint $CK nope.png'
hc E09 "--backend bogus" 2 'bogus' '' '$TR --out out --backend bogus'
hc E10 "--adapter naming no adapter" nz 'no-such-adapter' '' \
    '$SN bench --backend gpu --adapter no-such-adapter --model $NET --steps 1 --repeats 1'
hc E11 "--memory-limit 12Q" 2 'memory-limit.*12Q|12Q.*memory-limit' '' '$TR --out out --memory-limit 12Q'
hc E12 "network: dense without a size" nz 'n\.txt:2' 'printf "flatten\ndense\n" > n.txt' '$SN models n.txt'
hc E13 "network: kernel=3x3" nz 'n\.txt:1.*3x3' 'printf "conv 8 kernel=3x3\n" > n.txt' '$SN models n.txt'
hc E14 "network: dense 10.5" nz 'n\.txt:2.*10\.5' 'printf "flatten\ndense 10.5\n" > n.txt' '$SN models n.txt'
hc E15 "network ends in dense 7 on 3-class data" nz '7.*3|3.*7' \
    'printf "flatten\ndense 7\nsoftmax\n" > n.txt' '$SN train --model n.txt --data $DATA --validation 10 --out out'
hc E16 "network: a Cyrillic e in dense" nz 'n\.txt:2.*unknown keyword' \
    'printf "flatten\nd\xd0\xb5nse classes\nsoftmax\n" > n.txt' '$SN models n.txt'
hc E17 "--seeds with --seed" nz 'seed' '' '$TR --out out --seeds 1-2 --seed 4'
hc E18 "--resume with another --model" nz 'seed9' 'cp -r $RUN run' '$SN train --resume run --model seed9'
hc E19 "--epochs without a value" 2 'epochs' '' '$TR --out out --epochs'
hc E20 "models on a PNG" nz 'p\.png.*(UTF-8|text)' 'cp $PIC p.png' '$SN models p.png'
hc E21 "eval of a 10-byte checkpoint" nz 'ck\.safetensors' 'head -c 10 $CK > ck.safetensors' \
    '$SN eval --checkpoint ck.safetensors --data $DATA'
hc E22 "--threads 0" 2 'threads' '' '$SN train --model $NET --data $DATA --out out --threads 0'
hc E23 "preset fast on 3x3 images" nz 'layer|3x3' '$MK data d --size 3 3' \
    '$SN train --model fast --data d --validation 10 --out out'
hc E24 "augment with a missing --data" nz 'nowhere' '' '$SN augment --data nowhere --out out.png'
hc E25 "eval ensemble with a network.txt among checkpoints" nz 'network\.txt' '' \
    '$SN eval --checkpoint $CK $RUN/network.txt --data $DATA'
hc E26 "--validation leaving nothing to train on (one sentence)" nz 'expected fewer held out' '' \
    '$SN train --model $NET --data $DATA --out out'

# ---------------------------------------------------------------------------------------------
FIXTURE_AFTER=$($MK sums "$FX" | grep -v '^run/\.lock	')
FIXTURE_BEFORE=$(grep -v '^run/\.lock	' <<<"$FIXTURE_SUMS")
echo "| case | what | command | exit | s | first line of stderr | verdict |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "| class | cases | ok | flagged |"
echo "|---|---|---|---|"
for c in R O M V E; do
    [ -n "${TOTAL[$c]:-}" ] || continue
    echo "| $c | ${TOTAL[$c]} | $((TOTAL[$c] - ${BAD[$c]:-0})) | ${BAD[$c]:-0} |"
done
if [ "$FIXTURE_BEFORE" != "$FIXTURE_AFTER" ]; then
    echo
    echo "**The shared fixtures changed:**"
    diff <(echo "$FIXTURE_BEFORE") <(echo "$FIXTURE_AFTER") | grep '^[<>]'
fi
