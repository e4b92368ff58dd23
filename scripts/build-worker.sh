#!/usr/bin/env bash
# The wrangler [build] command: the release Worker into build/ (index.js + its wasm).
set -euo pipefail
# shellcheck source=scripts/toolchain-env.sh
source "$(dirname "$0")/toolchain-env.sh"
cd "$root"
exec worker-build --release
