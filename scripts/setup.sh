#!/usr/bin/env bash
# Installs what the project needs, idempotently: a Rust that can target wasm32, worker-build and the
# matching wasm-bindgen-cli, the npm packages, with --test the Python venv, Chromium, nginx and wrk,
# and with --bench nginx and wrk.
#
# Two routes to a wasm32 Rust: `rustup target add` where rustup can download (a laptop), and, where it
# cannot (a machine that only reaches package registries), Debian's rustc-web with a wasm32 std built
# once from its packaged sources and linked into rustup as the toolchain `debian-web`.
# scripts/toolchain-env.sh picks whichever one is present; every build goes through it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
WORKER_BUILD_VERSION=0.8.7

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

debian_sysroot_ready() {
  compgen -G "/usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null &&
    rustup toolchain list 2>/dev/null | grep -q '^debian-web'
}

rustup_has_wasm_target() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

build_debian_wasm_std() {
  apt_install rustc-web cargo-web rust-web-src lld-22
  if ! compgen -G "/usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null; then
    log "building the wasm32 std from Debian's rust sources (about 2 minutes)"
    local tmp
    tmp=$(mktemp -d)
    mkdir -p "$tmp/src"
    printf '[package]\nname = "wasmstd"\nversion = "0.0.0"\nedition = "2021"\n[lib]\ncrate-type = ["cdylib"]\n' >"$tmp/Cargo.toml"
    echo '#[no_mangle] pub extern "C" fn one() -> i32 { 1 }' >"$tmp/src/lib.rs"
    (cd "$tmp" && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-Cembed-bitcode=yes -Zforce-unstable-if-unmarked" \
      /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort)
    mkdir -p /usr/lib/rustlib/wasm32-unknown-unknown/lib
    find "$tmp/target/wasm32-unknown-unknown/release/deps" -name '*.rlib' ! -name 'libwasmstd*' \
      -exec cp {} /usr/lib/rustlib/wasm32-unknown-unknown/lib/ \;
    rm -rf "$tmp"
    # A crate built against an older sysroot fails with "can't find crate"; start it afresh.
    rm -rf "$root/target/wasm32-unknown-unknown"
  fi
  rustup toolchain list | grep -q '^debian-web' || rustup toolchain link debian-web /usr
}

install_wasm_rust() {
  if debian_sysroot_ready || rustup_has_wasm_target; then return 0; fi
  log "trying rustup target add wasm32-unknown-unknown"
  if timeout 60 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then return 0; fi
  log "rustup cannot download here; using Debian's rustc-web"
  build_debian_wasm_std
}

cargo_install() { # crate version binary
  local crate=$1 version=$2 bin=$3
  # `worker-build --version` prints a bare "0.8.7", `wasm-bindgen --version` "wasm-bindgen 0.2.130":
  # compare the last word, so an installed tool of the right version never reaches the registry.
  local have
  have=$("$HOME/.cargo/bin/$bin" --version 2>/dev/null | awk 'NR == 1 { print $NF }')
  if [ "$have" = "$version" ]; then return 0; fi
  log "cargo install $crate $version (several minutes, once)"
  # --locked first for a reproducible build; a lock file that names a crate version the registry
  # no longer serves (yanked) falls back to a fresh resolution.
  cargo install -q "$crate" --version "$version" --locked 2>/dev/null ||
    cargo install -q "$crate" --version "$version"
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock"
}

install_node_packages() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

python_venv() { # dir requirements what
  local dir=$1 requirements=$2
  if [ ! -x "$dir/bin/python" ] || [ "$requirements" -nt "$dir/.installed" ]; then
    log "python venv $dir: $3"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q -r "$requirements"
    touch "$dir/.installed"
  fi
}

install_test_tools() {
  apt_install chromium python3-venv shellcheck
  python_venv .venv tests/requirements.txt "the SDKs and frameworks for the client tiers"
  python_venv .venv-compat tests/requirements-compat.txt "LlamaIndex and instructor (they need an older openai)"
}

# The benchmark's nginx target and load generator. On a machine with systemd, installing nginx
# also starts Debian's default site on port 80; the benchmark runs its own nginx regardless.
install_bench_tools() {
  local pkgs=()
  command -v wrk >/dev/null || pkgs+=(wrk)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || pkgs+=(nginx-light)
  [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
}

main() {
  install_wasm_rust
  cargo_install worker-build "$WORKER_BUILD_VERSION" worker-build
  cargo_install wasm-bindgen-cli "$(wasm_bindgen_version)" wasm-bindgen
  install_node_packages
  case "${1:-}" in
    --test) install_test_tools && install_bench_tools ;;
    --bench) install_bench_tools ;;
  esac
}

main "$@"
