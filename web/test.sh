#!/usr/bin/env bash
# The browser tests: builds the web page (web/build.sh), serves it, and drives it in a real
# headless Chromium with WebGPU (SwiftShader, a CPU implementation) through chromedriver
# (web/browser_test.py). Installs Debian's chromium and chromium-driver when they are missing.
# Writes the screenshot and the CLI checkpoint under target/browser-test/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "web/test.sh: installing Debian's chromium and chromium-driver"
  if [ "$(id -u)" = "0" ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

web/build.sh
out=target/browser-test
rm -rf "$out"
mkdir -p "$out"

# A checkpoint trained by the CLI for the page to load (the default `fast`, one epoch).
cargo run --release --quiet -- train --model fast --epochs 1 --quiet --out "$out/run"

# How many checks native verify runs (on lavapipe, or this machine's GPU): the page must run
# and pass as many.
checks=$(cargo run --release --quiet -- verify | sed -n 's/^all \([0-9]*\) checks agree.*/\1/p' || true)
if [ -z "$checks" ]; then
  echo "web/test.sh: native \`shadernet verify\` did not pass; fix that first" >&2
  exit 1
fi

page_port=${PAGE_PORT:-8123}
driver_port=${DRIVER_PORT:-9515}
source web/serve_and_drive.sh
serve_and_drive web/dist "$out" "$page_port" "$driver_port"

python3 web/browser_test.py \
  --driver "http://127.0.0.1:$driver_port" \
  --page "http://127.0.0.1:$page_port/" \
  --checkpoint "$PWD/$out/run/best.safetensors" \
  --screenshot "$out/trained.png" \
  --verify-checks "$checks" \
  "$@"
