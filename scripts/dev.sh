#!/usr/bin/env bash
# Runs the proxy locally in workerd (wrangler dev) on local KV, with secrets from .dev.vars.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh
# shellcheck source=scripts/toolchain-env.sh
source scripts/toolchain-env.sh
if [ ! -f .dev.vars ]; then
  cp .dev.vars.example .dev.vars
  echo "[dev] created .dev.vars from .dev.vars.example (put real provider keys there to reach the real APIs)"
fi
port=${PORT:-8787}
admin_secret=$(sed -n 's/^ADMIN_SECRET=//p' .dev.vars)
cat <<MSG

  api-proxy is starting on http://localhost:$port
  Dashboard:   http://localhost:$port/admin   (password: the ADMIN_SECRET in .dev.vars)
  First token: curl -s -X POST http://localhost:$port/admin/api/tokens \\
                 -H 'authorization: Bearer $admin_secret' \\
                 -d '{"label":"my laptop","providers":["openai","anthropic","gemini"]}'
  Then use:    base URL http://localhost:$port/v1 (OpenAI) or http://localhost:$port (Anthropic, Gemini)
               and the "token" from that answer as the API key.

MSG
exec wrangler dev --port "$port" --ip 127.0.0.1
