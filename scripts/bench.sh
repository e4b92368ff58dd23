#!/usr/bin/env bash
# npm run bench: builds the release Worker and runs bench/run.mjs, which prints a table and writes
# bench/results/latest.json. Arguments go to bench/run.mjs (e.g. --smoke). Not part of npm test;
# tests/workerd/bench-smoke.test.mjs runs a tiny version there so the benchmark keeps working.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh --bench
# shellcheck source=scripts/toolchain-env.sh
source scripts/toolchain-env.sh
bash scripts/build-worker.sh >/dev/null
exec node bench/run.mjs "$@"
