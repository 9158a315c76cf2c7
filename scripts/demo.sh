#!/usr/bin/env bash
# The main job on the model detinfer ships (models/verbs, trained by `detinfer train`, see
# docs/training.md): greedy generation from "Yesterday I" (ending at the end-of-sequence token
# </s>, which is reported as a token but is not part of the text), its per-token logprobs and
# fingerprint, then the same request with the KV cache off (every step recomputed from scratch,
# one thread, token by token) and a teacher-forced re-score: equal fingerprints prove the paths
# agree bit for bit for this run.
set -euo pipefail
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D="$B/detinfer"
M="$ROOT/models/verbs"
PROMPT=${DEMO_PROMPT:-Yesterday I}
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
array() { sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p"; }

"$D" cpu-info
echo
"$D" info "$M"
echo
echo "== generate \"$PROMPT\" (greedy, 2 threads, KV cache and prefix cache on)"
gen=$("$D" generate "$M" --prompt "$PROMPT" --max-tokens 16 --threads 2 --json)
text=$(echo "$gen" | field text)
ids=$(echo "$gen" | array tokens)
fp_gen=$(echo "$gen" | field fingerprint)
echo "$PROMPT$text"
echo
echo "per-token logprobs (natural log):"
paste -d' ' <(echo "$ids" | tr ',' '\n') <(echo "$text" | tr ' ' '\n' | sed '/^$/d') \
  <(echo "$gen" | array logprobs | tr ',' '\n') |
  awk 'NF == 3 { printf "  %6s  %-14s %s\n", $1, $2, $3 } NF == 2 { printf "  %6s  %-14s %s\n", $1, "</s>", $2 }'
echo "fingerprint $fp_gen"
echo
echo "== the same request with the KV cache off (recomputed from scratch every step), 1 thread"
fp_nocache=$("$D" generate "$M" --prompt "$PROMPT" --max-tokens 16 --threads 1 \
  --no-cache --json | field fingerprint)
echo "fingerprint $fp_nocache"
echo
echo "== teacher-forced re-score of the generated tokens"
fp_score=$("$D" score "$M" --prompt "$PROMPT" --completion-ids "$ids" --json | field fingerprint)
echo "fingerprint $fp_score"
echo
if [ -n "$fp_gen" ] && [ "$fp_gen" = "$fp_nocache" ] && [ "$fp_gen" = "$fp_score" ]; then
  echo "OK: cached and uncached generation agree bit for bit, and so does re-scoring ($fp_gen)"
else
  echo "MISMATCH: cached $fp_gen / uncached $fp_nocache / re-scored $fp_score" >&2
  exit 1
fi
