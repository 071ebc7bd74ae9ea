#!/usr/bin/env bash
# Builds the web page into web/dist/ (the wasm module, the page, the bundled MNIST files) and,
# with --serve, serves it on http://127.0.0.1:${PORT:-8000}/. Installs what it needs on first
# use: Rust's wasm32 target and the wasm-bindgen CLI of the version Cargo.lock pins.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $version\$"; then
    echo "installing wasm-bindgen-cli $version (it must equal the wasm-bindgen crate's version; ~5 minutes)"
    cargo install wasm-bindgen-cli --version "$version"
fi

cargo build --release -p shadernet-web --target wasm32-unknown-unknown
rm -rf web/dist
mkdir -p web/dist/data
wasm-bindgen --target web --no-typescript --out-dir web/dist/pkg \
    target/wasm32-unknown-unknown/release/shadernet_web.wasm
cp web/www/* web/dist/
cp data/mnist/*.gz web/dist/data/
echo "built web/dist ($(du -sh web/dist | cut -f1))"

if [ "${1:-}" = "--serve" ]; then
    port=${PORT:-8000}
    echo "serving http://127.0.0.1:$port/ (Ctrl-C stops); open it in a browser with WebGPU"
    exec python3 -m http.server --bind 127.0.0.1 --directory web/dist "$port"
fi
