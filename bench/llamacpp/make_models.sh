#!/usr/bin/env bash
# Builds llama.cpp's llama-bench and llama-quantize in $LLAMA_CPP (a llama.cpp source tree you
# fetched: `git clone https://github.com/ggml-org/llama.cpp`; the figures in docs/kernels.md used
# commit 81ff7abe50b95fb81cc70a6cdba1eb1a02a48f62) and makes the 110M-shape files both engines
# run: detinfer's `init` writes the f32 model, add_vocab.py gives it a synthetic vocabulary
# (llama-bench refuses a file without tokenizer.ggml.model; the tensor bytes are unchanged), and
# llama.cpp's own llama-quantize makes BF16, F16, Q8_0, Q4_0 and Q4_K_M from it, as the issue's
# anchors were made. CPU only, Release, -march=native, no OpenMP; ~16 min with -j2.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_CPP=${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp source tree}
MODELS=${MODELS:-$REPO/build/llamacpp-models}
cmake -S "$LLAMA_CPP" -B "$LLAMA_CPP/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF
cmake --build "$LLAMA_CPP/build" -j "$(nproc)" --target llama-bench llama-quantize
B=$LLAMA_CPP/build/bin
mkdir -p "$MODELS"
"$REPO/build/detinfer" init --arch llama --dim 768 --layers 12 --heads 12 --kv-heads 12 \
  --ffn 2048 --vocab 32000 --seed 1 --dtype f32 --format gguf --out "$MODELS/m110-f32.gguf"
LLAMA_CPP=$LLAMA_CPP /usr/bin/python3 "$REPO/bench/llamacpp/add_vocab.py" \
  "$MODELS/m110-f32.gguf" "$MODELS/m110-F32.gguf"
for t in BF16 F16 Q8_0 Q4_0 Q4_K_M; do
  "$B/llama-quantize" "$MODELS/m110-F32.gguf" "$MODELS/m110-$t.gguf" "$t" 2 > "$MODELS/q-$t.log" 2>&1
done
for t in F32 BF16 F16 Q8_0 Q4_0 Q4_K_M; do "$REPO/build/detinfer" info "$MODELS/m110-$t.gguf" | sed -n 4p; done
