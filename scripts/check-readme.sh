#!/usr/bin/env bash
# Runs the README's "Using it" block as written, line by line, so the README cannot promise what
# the tool does not do (part of the default test suite: ReadmeCommandsRunAsWritten).
#
# It runs in a fresh temporary directory that links build/ and models/ to this checkout's, so
# relative paths resolve as from the repository root and nothing is written into the checkout.
# One exception to "as written": `serve ... --port 8080` listens on a free port instead (8080
# may be taken on a CI machine); it must start serving, and is stopped after a few seconds.
# Usage: scripts/check-readme.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ln -s "$BUILD" "$WORK/build"
ln -s "$ROOT/models" "$WORK/models"

# The ```sh block after "## Using it", with backslash-continued lines joined.
awk '/^## Using it/ { f = 1 } f && /^```sh/ { b = 1; next } b && /^```/ { exit } b' "$ROOT/README.md" |
  awk '{ if (sub(/\\$/, "")) { buf = buf $0 } else { print buf $0; buf = "" } }' > "$WORK/lines"
n=$(wc -l < "$WORK/lines")
[ "$n" -gt 5 ] || { echo "check-readme: found only $n lines in README.md's 'Using it' block" >&2; exit 1; }

{
  echo 'set -euo pipefail'
  i=0
  while IFS= read -r line; do
    i=$((i + 1))
    printf 'echo %q\n' "readme [$i/$n]: $line"
    if [[ "$line" == *" serve "* ]]; then
      cmd=${line/--port 8080/--port 0}
      cmd=${cmd%%#*}
      printf 'rc=0; out=$(timeout 5 %s 2>&1) || rc=$?\n' "$cmd"
      echo 'if [ "$rc" != 124 ] || ! grep -q "serving .* on http://" <<< "$out"; then'
      echo '  echo "check-readme: serve did not start serving (exit $rc): $out" >&2; exit 1; fi'
    else
      printf '%s\n' "$line"
    fi
  done < "$WORK/lines"
  echo 'echo "check-readme: all README commands ran"'
} > "$WORK/run.sh"
cd "$WORK"
bash run.sh
