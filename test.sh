#!/usr/bin/env bash
# The test command: sets up what the tests need on a fresh Debian/Ubuntu machine, then runs them.
# - Installs Mesa's lavapipe (a software Vulkan GPU) when no Vulkan driver is present, so the
#   GPU tests run for real. Set SHADERNET_SKIP_GPU_TESTS=1 to opt out of the GPU tests instead.
# - Runs every test (data, gradient checks, CPU executor, GPU vs CPU, CLI) in release mode.
# - Then the browser tests (web/test.sh): the web page in headless Chromium on WebGPU, which
#   install Chromium and wasm-bindgen-cli on first use. SHADERNET_SKIP_BROWSER_TESTS=1 opts out.
set -euo pipefail
cd "$(dirname "$0")"

# A Vulkan ICD manifest in either standard place (compgen, not `ls | grep`: with pipefail, an
# empty folder made `ls` fail the whole check even when the other folder had a driver).
have_vulkan_driver() {
  compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null \
    || compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null
}

if [ "${SHADERNET_SKIP_GPU_TESTS:-0}" != "1" ] && ! have_vulkan_driver; then
  echo "test.sh: no Vulkan driver found; installing Mesa's lavapipe (mesa-vulkan-drivers)"
  if [ "$(id -u)" = "0" ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

# Mesa complains on stderr without a private runtime directory; give it one.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR
  XDG_RUNTIME_DIR="$(mktemp -d)"
  chmod 700 "$XDG_RUNTIME_DIR"
fi

cargo test --release --no-fail-fast "$@"

if [ "${SHADERNET_SKIP_BROWSER_TESTS:-0}" != "1" ]; then
  web/test.sh
fi
