# Sourced by the build scripts: selects a Rust that can target wasm32 and points worker-build at
# the wasm-bindgen, esbuild and wasm-opt that scripts/setup.sh installed, so no build step downloads anything.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if rustup toolchain list 2>/dev/null | grep -q '^debian-web' &&
  compgen -G "/usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null; then
  export RUSTUP_TOOLCHAIN=debian-web
fi
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export WRANGLER_SEND_METRICS=false
