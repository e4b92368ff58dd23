#!/usr/bin/env bash
# The wrangler [build] command: the release Worker into build/ (index.js + its wasm), or into the
# directory given as the one argument (bench/ab.mjs compares builds side by side).
set -euo pipefail
# shellcheck source=scripts/toolchain-env.sh
source "$(dirname "$0")/toolchain-env.sh"
cd "$root"
out=${1:-build}
worker-build --release --out-dir "$out"
# worker-build keeps the wasm names section (about 30 KiB of the gzip bundle). Panics still log
# their Rust message without it, so it is dropped to keep the upload small.
wasm-opt "$out/index_bg.wasm" -o "$out/index_bg.wasm" --strip-debug \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling
