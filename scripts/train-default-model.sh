#!/usr/bin/env bash
# Trains the default model detinfer ships (models/verbs) with its one recorded command and
# records the sha256 of the model files. The run is bitwise reproducible (any thread count,
# any ISA path), so the same command reproduces the committed bytes (docs/training.md).
#   scripts/train-default-model.sh [BUILD]                    retrain into models/verbs
#   scripts/train-default-model.sh BUILD OUT --check          retrain into OUT and compare
#                                                             with models/verbs/SHA256SUMS
set -euo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${2:-$ROOT/models/verbs}
MODE=${3:-}
FILES="config.json model.safetensors tokenizer.json tokenizer_config.json"
# THE command (keep docs/training.md in step with it):
"$B/detinfer" train --corpus verbs --steps 500 --seed 1 --out "$OUT" --eval
# shellcheck disable=SC2086
sums=$(cd "$OUT" && sha256sum $FILES)
if [ "$MODE" = "--check" ]; then
  if [ "$sums" = "$(cat "$ROOT/models/verbs/SHA256SUMS")" ]; then
    echo "OK: the retrained model's files equal the committed ones byte for byte"
  else
    echo "MISMATCH with models/verbs/SHA256SUMS:" >&2
    echo "$sums" >&2
    exit 1
  fi
else
  echo "$sums" > "$OUT/SHA256SUMS"
  echo "recorded $OUT/SHA256SUMS:"
  cat "$OUT/SHA256SUMS"
fi
