#!/usr/bin/env bash
# Measures the page's whole `fast` run in headless Chromium (issue 15's by-hand measurement,
# ~1 hour on SwiftShader with 2 CPU cores): builds the page, serves a copy of it, starts
# chromedriver and runs web/full_run.py. Output and screenshots under target/browser-full-run/.
# Runs beside other work at the lowest CPU priority with `SHADERNET_IDLE=1` (chrt --idle).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/browser-full-run
web/build.sh
rm -rf "$out"
mkdir -p "$out"
cp -r web/dist "$out/dist"   # a copy, so rebuilding web/dist meanwhile changes nothing

prefix=()
if [ "${SHADERNET_IDLE:-0}" = "1" ]; then prefix=(chrt --idle 0); fi
page_port=${PAGE_PORT:-8124}
driver_port=${DRIVER_PORT:-9516}
source web/serve_and_drive.sh
serve_and_drive "$out/dist" "$out" "$page_port" "$driver_port" "${prefix[@]}"
lscpu | grep -E "Model name|^CPU\(s\)" | sed 's/  */ /g'
python3 web/full_run.py --driver "http://127.0.0.1:$driver_port" \
  --page "http://127.0.0.1:$page_port/" --screenshot "$PWD/$out/trained.png" "$@" \
  | tee "$out/result.txt"
