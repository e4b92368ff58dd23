#!/usr/bin/env bash
# Runs every test tier. Installs what it needs first (idempotent).
#   1. Rust unit tests of the pure modules, on the host (cargo test); no import cycles, no pure
#      module importing glue (scripts/check-layout.py)
#   2. the built Worker in workerd against a mock upstream; Node SDKs; the browser (vitest)
#   3. the Python SDKs and frameworks against the same stack, and schedule.sh (pytest)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh --test
# shellcheck source=scripts/toolchain-env.sh
source scripts/toolchain-env.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "tier 1: Rust unit tests (host) and the layout rules"
cargo test --quiet
python3 scripts/check-layout.py

step "build the release Worker"
bash scripts/build-worker.sh >/dev/null

step "tier 2: workerd, Node SDKs and browser (vitest)"
vitest run

step "tier 3: Python SDKs and frameworks, and schedule.sh (pytest)"
.venv/bin/python -m pytest -q tests/python tests/schedule --ignore=tests/python/compat
.venv-compat/bin/python -m pytest -q tests/python/compat
