#!/usr/bin/env bash
# libFuzzer targets for every parser of untrusted input (docs/security.md).
#
#   scripts/fuzz.sh build                 configure and build $FUZZ_BUILD (default build-fuzz)
#   scripts/fuzz.sh smoke [SECONDS]       build, then run every target SECONDS (default 30) each
#   scripts/fuzz.sh run TARGET [ARGS...]  build, then fuzz one target with extra libFuzzer ARGS
#                                         (e.g. -runs=1000000 or -max_total_time=3600)
#
# Corpora live in $FUZZ_BUILD/corpus/<target> (seeded on first use from fuzz/make_seeds.cc, the
# models in ../shared/models, and the committed inputs of fuzz/regressions/<target>); crashes
# are written to $FUZZ_BUILD/artifacts/<target>/. Any failing input ends the run non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${FUZZ_BUILD:-build-fuzz}
SHARED=${DETINFER_SHARED_DIR:-../shared}
TARGETS=(gguf safetensors safetensors_index hf_config llama2c hf_tokenizer llama2c_tokenizer
         tokenizer_encode api_request chat_template)
# Longest input each target mutates: model headers live in the first bytes of a file, so the
# (1 MB) real models are read only that far; the ASan build stays fast.
declare -A MAX_LEN=([gguf]=65536 [safetensors]=65536 [llama2c]=16384 [chat_template]=16384)

have_fuzzer_runtime() {
  compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" > /dev/null
}

build() {
  if ! have_fuzzer_runtime; then
    echo "fuzz: clang's libFuzzer runtime is missing (Debian: apt-get install clang)" >&2
    exit 1
  fi
  if [ ! -f "$B/build.ninja" ]; then
    local launcher=()
    command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    # -O1: the sanitizers' usual level; the build is mostly the instrumented libraries.
    cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD="${DETINFER_UNITY:-ON}" \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_COMPILER=clang++ \
      -DDETINFER_FUZZ=ON -DDETINFER_BUILD_BENCH=OFF -DDETINFER_BUILD_PYTHON=OFF "${launcher[@]}"
  fi
  cmake --build "$B" -j "${JOBS:-$(nproc)}" --target fuzzers
}

# Fills $B/corpus/<target> once; later runs keep what libFuzzer found.
seed() {
  [ -f "$B/corpus/.seeded" ] && return 0
  rm -rf "$B/corpus"
  "$B/detinfer_fuzz_seeds" "$B/corpus"
  local m="$SHARED/models"
  if [ -d "$m" ]; then
    find "$m" -name '*.gguf' -exec cp {} "$B/corpus/gguf/" \;
    find "$m" -name '*.safetensors' -exec cp {} "$B/corpus/safetensors/" \;
    find "$m" -name 'config.json' | while read -r f; do
      cp "$f" "$B/corpus/hf_config/$(echo "$f" | tr / _)"; done
    find "$m" -name '*.safetensors.index.json' -exec cp {} "$B/corpus/safetensors_index/" \;
    find "$m" -name 'tokenizer.json' | while read -r f; do
      cp "$f" "$B/corpus/hf_tokenizer/$(echo "$f" | tr / _)"; done
    find "$m" -name 'tokenizer.bin' | while read -r f; do   # the target reads byte 0 as a mode
      { printf '\0'; cat "$f"; } > "$B/corpus/llama2c_tokenizer/$(echo "$f" | tr / _)"; done
    find "$m" -maxdepth 2 -name '*.bin' ! -name 'tokenizer.bin' -exec cp {} "$B/corpus/llama2c/" \;
  else
    echo "fuzz: $m not found; seeding from generated files only"
  fi
  # Request bodies (byte 0 picks the endpoint: 0 completions, 1 chat, 2 score, 3 tokenize,
  # 4 detokenize, 5 generate, 6 update from disk, 7 update from tensor, 8 pause).
  mkdir -p "$B/corpus/api_request"
  printf '\0{"prompt": "Hello", "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "seed": 3, "stop": ["."], "logprobs": 2, "echo": true, "stream": false}' \
    > "$B/corpus/api_request/completion"
  printf '\0{"prompt": [[1, 2, 3], [4, 5]], "top_k": 5, "min_p": 0.1, "stream": true, "stream_options": {"include_usage": true}}' \
    > "$B/corpus/api_request/completion-ids"
  printf '\1{"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "logprobs": true, "top_logprobs": 3}' \
    > "$B/corpus/api_request/chat"
  printf '\2{"prompt": "Yesterday I", "completion": [53, 131]}' > "$B/corpus/api_request/score"
  printf '\3{"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "function", "function": {"name": "f"}}], "chat_template_kwargs": {"enable_thinking": false}, "add_generation_prompt": false, "return_token_strs": true}' \
    > "$B/corpus/api_request/tokenize"
  printf '\4{"tokens": [1, 2, 3]}' > "$B/corpus/api_request/detokenize"
  printf '\5{"input_ids": [[1, 2], [3]], "sampling_params": {"max_new_tokens": 4, "temperature": 1.0, "n": 2, "min_new_tokens": 1}, "return_logprob": true, "top_logprobs_num": 2}' \
    > "$B/corpus/api_request/generate"
  printf '\6{"model_path": "models/verbs"}' > "$B/corpus/api_request/update-disk"
  printf '\7{"tensors": [{"name": "lm_head.weight", "dtype": "f32", "shape": [1, 2], "data": "AACAPwAAAEA="}]}' \
    > "$B/corpus/api_request/update-tensor"
  printf '\10{"mode": "retract"}' > "$B/corpus/api_request/pause"
  # The real chat templates the tests render (Llama-3.x, Qwen2.5/3, Gemma 3, Mistral, Phi-3.5).
  mkdir -p "$B/corpus/chat_template"
  cp tests/data/templates/*.jinja "$B/corpus/chat_template/"
  touch "$B/corpus/.seeded"
}

# run_target TARGET ARGS...: fuzzes with the target's corpus, dictionary and regressions.
run_target() {
  local t=$1; shift
  local corpus="$B/corpus/$t" art="$B/artifacts/$t/"
  mkdir -p "$corpus" "$art"
  local extra=()
  [ -d "fuzz/regressions/$t" ] && extra+=("fuzz/regressions/$t")
  "$B/fuzz_$t" "$corpus" "${extra[@]}" -dict="fuzz/dicts/$t.dict" -artifact_prefix="$art" \
    -max_len="${MAX_LEN[$t]:-8192}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
}

cmd=${1:-smoke}
case "$cmd" in
  build) build ;;
  smoke)
    secs=${2:-30}
    build
    seed
    mkdir -p "$B/logs"
    # The targets run $JOBS at a time (one per core): each is single-threaded.
    jobs=${JOBS:-$(nproc)}
    pids=() names=()
    failed=0
    finish_oldest() {
      local t=${names[0]} rc=0
      wait "${pids[0]}" || rc=$?
      pids=("${pids[@]:1}") names=("${names[@]:1}")
      echo "== fuzz_$t: ${secs} s (log: $B/logs/$t.log)"
      grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units)" "$B/logs/$t.log" || true
      if [ "$rc" -ne 0 ]; then
        tail -n 40 "$B/logs/$t.log"
        echo "fuzz_$t FAILED (rc $rc; inputs in $B/artifacts/$t/)"
        failed=1
      fi
    }
    for t in "${TARGETS[@]}"; do
      [ "${#pids[@]}" -ge "$jobs" ] && finish_oldest
      run_target "$t" -max_total_time="$secs" > "$B/logs/$t.log" 2>&1 &
      pids+=("$!") names+=("$t")
    done
    while [ "${#pids[@]}" -gt 0 ]; do finish_oldest; done
    [ "$failed" -eq 0 ] || exit 1
    echo "fuzz-smoke: all ${#TARGETS[@]} targets ran ${secs} s each without a finding"
    ;;
  run)
    t=${2:?usage: scripts/fuzz.sh run TARGET [libFuzzer args]}
    shift 2
    build
    seed
    run_target "$t" "$@"
    ;;
  *) echo "usage: $0 build | smoke [SECONDS] | run TARGET [ARGS...]" >&2; exit 2 ;;
esac
