#!/usr/bin/env bash
# The aarch64 build and its cross-architecture check under user-mode emulation (issue #22;
# docs/kernels.md, "ARM"). Everything comes from Debian packages: the cross compiler
# (g++-aarch64-linux-gnu), the emulator (qemu-user) and the target's libraries (multiarch :arm64).
#
#   scripts/cross-arm64.sh deps                 install what the cross build needs (as root)
#   scripts/cross-arm64.sh build [ARM_DIR]      configure + build detinfer and its kernel tests for aarch64
#   scripts/cross-arm64.sh check X86_DIR ARM_DIR
#       under qemu-aarch64: the kernel and core unit tests (every ISA path the emulated CPU has:
#       scalar and neon), then the same requests through the x86 and the ARM `detinfer`, whose
#       tokens, logprobs and fingerprints must be identical (both computed in this run), and a
#       run receipt written on x86 replayed on every x86 path and under emulation.
#
# Where the packages cannot be installed (not root, no package source) `deps` says so and the
# check is reported as SKIPPED, never as passed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRIPLET=aarch64-linux-gnu
# libsentencepiece-dev is not co-installable for two architectures (installing :arm64 removes
# the host's): its target package is unpacked into the build folder instead.
TARGET_LIBS=(libpcre2-dev libicu-dev zlib1g-dev libxxhash-dev libgtest-dev libgmock-dev
             libcpp-httplib-dev)
UNPACKED_LIBS=(libsentencepiece-dev libsentencepiece0)

have_deps() {
  command -v ${TRIPLET}-g++ >/dev/null && command -v qemu-aarch64 >/dev/null || return 1
  for p in "${TARGET_LIBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}

deps() {
  have_deps && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "cross-arm64: the cross packages are missing; as root run: $0 deps" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends g++-${TRIPLET} qemu-user \
    "${TARGET_LIBS[@]/%/:arm64}"
}

unpack_sentencepiece() {
  local dir=$1
  [ -f "$dir/sentencepiece/usr/lib/$TRIPLET/libsentencepiece.so" ] && return 0
  mkdir -p "$dir/sentencepiece-debs" "$dir/sentencepiece"
  # apt-get download drops privileges to _apt, which needs write access to the folder.
  chmod 777 "$dir/sentencepiece-debs"
  (cd "$dir/sentencepiece-debs" && apt-get download -qq "${UNPACKED_LIBS[@]/%/:arm64}")
  for deb in "$dir"/sentencepiece-debs/*.deb; do dpkg -x "$deb" "$dir/sentencepiece"; done
}

build() {
  local dir=${1:-build-arm64}
  deps
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  unpack_sentencepiece "$dir"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD="${DETINFER_UNITY:-ON}" \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-aarch64.cmake" -DDETINFER_BUILD_BENCH=OFF \
    -DDETINFER_BUILD_PYTHON=OFF \
    -DDETINFER_SENTENCEPIECE_PREFIX="$dir/sentencepiece"
  cmake --build "$dir" -j "$(nproc)" --target detinfer detinfer_kernel_tests
}

# The fields of a `--json` result that must not depend on the machine (timings do).
canonical() {
  python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    keep = {k: r[k] for k in ("tokens", "logprobs", "top_logprobs", "text", "fingerprint",
                              "schedule_id", "finish_reason", "prompt_logprobs") if k in r}
    print(json.dumps(keep, sort_keys=True))'
}

check() {
  local x86=${1:?x86 build folder} arm=${2:?arm64 build folder}
  local qemu=(qemu-aarch64)
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  echo "== aarch64 under emulation: kernel and core unit tests (paths: scalar, neon)"
  "${qemu[@]}" "$arm/tests/detinfer_kernel_tests" --gtest_filter='-*Large*' --gtest_brief=1

  echo "== the same requests on x86-64 and on aarch64 (tokens, logprobs, fingerprints)"
  local verbs="$ROOT/models/verbs" shared="$ROOT/../shared/models/stories260K"
  "$x86/detinfer" init --arch llama --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 160 \
    --vocab 96 --seed 5 --dtype q4_k_m --format gguf --out "$work/q4km.gguf" >/dev/null
  "$x86/detinfer" init --arch qwen3 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 128 \
    --vocab 80 --seed 6 --dtype bf16 --format hf --out "$work/qwen3" >/dev/null
  local cases=(
    "generate $verbs --prompt Yesterday --max-tokens 16"
    "generate $verbs --prompt Yesterday --max-tokens 16 --temperature 0.9 --top-p 0.9 --seed 7 --logprobs 3"
    "generate $verbs --prompt Yesterday --max-tokens 16 --kv-dtype bf16 --chunk 3"
    "score $verbs --prompt Yesterday --completion-ids 7,8,9 --prompt-logprobs"
    "generate $work/q4km.gguf --ids 1,5,9,13 --max-tokens 12 --ignore-eos"
    "generate $work/qwen3 --ids 2,3,4 --max-tokens 12 --ignore-eos --temperature 1 --seed 3"
  )
  if [ -d "$shared" ]; then
    cases+=("generate $shared/stories260K.bin --ids 1,403,407 --max-tokens 24"
            "generate $shared/gguf/stories260K-f16.gguf --ids 1,403,407 --max-tokens 24"
            "generate $shared/hf-bf16 --ids 1,403,407 --max-tokens 24 --temperature 0.8 --seed 11")
  else
    echo "NOTE: $shared not found: the stories260K cases are SKIPPED"
  fi
  local n=0 failed=0
  for c in "${cases[@]}"; do
    read -r -a args <<<"$c"
    "$x86/detinfer" "${args[@]}" --json --threads 2 | canonical >"$work/x86.json"
    for variant in "neon 2" "neon 1" "scalar 2"; do
      read -r isa threads <<<"$variant"
      DETINFER_ISA=$isa "${qemu[@]}" "$arm/detinfer" "${args[@]}" --json --threads "$threads" |
        canonical >"$work/arm.json"
      n=$((n + 1))
      if cmp -s "$work/x86.json" "$work/arm.json"; then
        echo "same bits: $c  [aarch64 $isa, $threads threads]"
      else
        failed=$((failed + 1))
        echo "DIFFERENT: $c  [aarch64 $isa, $threads threads]"
        diff <(tr ',' '\n' <"$work/x86.json") <(tr ',' '\n' <"$work/arm.json") | head -10 || true
      fi
    done
  done
  echo "== a run receipt written on x86-64, replayed on every x86 path and under aarch64"
  "$x86/detinfer" generate "$verbs" --prompt Yesterday --max-tokens 16 --temperature 0.9 \
    --seed 21 --receipt "$work/receipt.json" --json >/dev/null
  local replays=()
  for isa in $("$x86/detinfer" cpu-info --json | python3 -c \
      'import json,sys; print(" ".join(json.load(sys.stdin)["isa_paths"]))'); do
    replays+=("x86-64 $isa|DETINFER_ISA=$isa $x86/detinfer")
  done
  replays+=("aarch64 neon|DETINFER_ISA=neon qemu-aarch64 $arm/detinfer"
            "aarch64 scalar|DETINFER_ISA=scalar qemu-aarch64 $arm/detinfer")
  for entry in "${replays[@]}"; do
    n=$((n + 1))
    if env ${entry#*|} replay "$work/receipt.json" --model "$verbs" --threads 1 --co-batch 3; then
      echo "receipt replays: [${entry%%|*}]"
    else
      failed=$((failed + 1))
      echo "RECEIPT DOES NOT REPLAY: [${entry%%|*}]"
    fi
  done
  echo "$((n - failed)) passed, $failed failed"
  [ "$failed" -eq 0 ]
}

case ${1:-} in
  deps) deps ;;
  build) build "${2:-build-arm64}" ;;
  check)
    if ! have_deps; then
      echo "SKIPPED: cross-architecture check (cross compiler, qemu-user or arm64 libraries missing)"
      exit 0
    fi
    check "${2:?x86 build folder}" "${3:?arm64 build folder}" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
