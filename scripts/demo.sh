#!/usr/bin/env bash
# The main job until detinfer ships its own trained model: report the CPU, make a small random
# model, generate from it with sampling, re-score the generation teacher-forced, and show that
# the logprobs agree bit for bit (equal fingerprints) whatever the batching, threads or chunking.
set -euo pipefail
B=${1:-build}
D="$B/detinfer"
M="$B/demo-model.gguf"
"$D" cpu-info
echo
[ -f "$M" ] || "$D" init --arch qwen3 --dim 256 --layers 4 --heads 8 --kv-heads 4 --ffn 512 \
  --vocab 4096 --seed 1 --dtype bf16 --format gguf --out "$M" >/dev/null
"$D" info "$M"
echo
echo "== generate (sampled, 2 threads, chunk 64)"
gen=$("$D" generate "$M" --ids 1,20,300,4000 --max-tokens 24 --temperature 0.9 --top-p 0.95 \
  --seed 7 --threads 2 --json)
echo "$gen"
ids=$(echo "$gen" | sed -n 's/.*"tokens":\[\([0-9,]*\)\].*/\1/p')
fp_gen=$(echo "$gen" | sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p')
echo
echo "== the same request on 1 thread, fed token by token, no prefix cache"
fp_alt=$("$D" generate "$M" --ids 1,20,300,4000 --max-tokens 24 --temperature 0.9 --top-p 0.95 \
  --seed 7 --threads 1 --chunk 1 --no-prefix-cache --json | sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p')
echo "fingerprint $fp_alt"
echo
echo "== teacher-forced re-score of the generated tokens"
fp_score=$("$D" score "$M" --ids 1,20,300,4000 --completion-ids "$ids" --json | \
  sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p')
echo "fingerprint $fp_score"
echo
if [ "$fp_gen" = "$fp_alt" ] && [ "$fp_gen" = "$fp_score" ]; then
  echo "OK: generation, re-generation and re-scoring agree bit for bit ($fp_gen)"
else
  echo "MISMATCH: $fp_gen / $fp_alt / $fp_score" >&2
  exit 1
fi
