#!/usr/bin/env bash
# The official OpenAI Node client (npm `openai`, pinned in package.json) against `detinfer serve`
# on loopback: conformance.mjs makes the calls an OpenAI user makes and checks what the client
# parses. Installs node/npm (Debian) and the client (npm registry, into BUILD/openai-client) when
# missing; a failure to install is a failure of this test, never a silent skip.
#   tests/server/openai_client/run.sh BUILD_DIR MODEL_DIR
#   tests/server/openai_client/run.sh --install BUILD_DIR   # only install (make test-deps)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
install_only=0
if [ "${1:-}" = "--install" ]; then install_only=1; shift; fi
mkdir -p "$1"
build=$(cd "$1" && pwd)
model=${2:-}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  bash "$here/../../../scripts/install-deps.sh" nodejs npm
fi
dir=$build/openai-client
mkdir -p "$dir"
if ! cmp -s "$here/package.json" "$dir/package.json" || [ ! -d "$dir/node_modules/openai" ]; then
  cp "$here/package.json" "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
fi
[ "$install_only" = 1 ] && exit 0
cp "$here/conformance.mjs" "$dir/conformance.mjs"

log=$(mktemp)
"$build/detinfer" serve "$model" --port 0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*on http://[^:]*:\([0-9]*\) .*|\1|p' "$log")
  [ -n "$port" ] && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "openai-client: the server did not start" >&2; cat "$log" >&2; exit 1; }
node "$dir/conformance.mjs" "http://127.0.0.1:$port/v1"
