#!/usr/bin/env bash
# llama.cpp vs detinfer, side by side on the same GGUF files (110M random Llama, 2 threads).
# For each format, interleaved: llama-bench (pp512, tg128) then detinfer's CLI on the same file.
#   detinfer pp512  = 512 / time_to_first_token of a 512-token --ids prompt (--chunk 512, one
#                     forward like llama.cpp's ubatch 512), second of two processes (steady state)
#   detinfer tg128  = decode_tokens_per_s of a 1-token prompt + 129 generated tokens (128 decode
#                     steps after the first token, as llama-bench's tg128 from an empty context),
#                     second of two processes
#   detinfer tg@512 = decode_tokens_per_s of the 128 tokens after the 512-token prompt (extra)
# The read-bandwidth probe runs at start and end.
# Needs a llama.cpp build and the models: bench/llamacpp/make_models.sh (README.md here).
# Env: LLAMA_CPP (the llama.cpp tree), LCPP_BENCH, DETINFER, DETINFER_BENCH, MODELS, FORMATS,
# REPS (llama-bench -r), OUT. Run it on an otherwise idle machine: llama.cpp's threads spin while
# they wait, so a busy machine costs it far more than detinfer.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LLAMA_CPP=${LLAMA_CPP:?set LLAMA_CPP to a llama.cpp tree built by bench/llamacpp/make_models.sh}
LCPP_BENCH=${LCPP_BENCH:-$LLAMA_CPP/build/bin/llama-bench}
DETINFER=${DETINFER:-$REPO/build/detinfer}
DETINFER_BENCH=${DETINFER_BENCH:-$REPO/build/detinfer_bench}
MODELS=${MODELS:-$REPO/build/llamacpp-models}
FORMATS=${FORMATS:-"F32 BF16 F16 Q8_0 Q4_0 Q4_K_M"}
REPS=${REPS:-3}
THREADS=2
OUT=${OUT:-$REPO/build/llamacpp-compare/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
# detinfer_bench's main merges a summary file beside its binary unless told otherwise: keep it here.
export DETINFER_BENCH_SUMMARY="$OUT/bench-summary.json"
export DETINFER_WEIGHT_CACHE=${DETINFER_WEIGHT_CACHE:-$OUT/weight-cache}
mkdir -p "$DETINFER_WEIGHT_CACHE"

# Snapshot the binaries: a relink of the build folder mid-run would mix two detinfer builds in
# one table. Their hashes go into env.txt.
mkdir -p "$OUT/bin"
cp "$DETINFER" "$OUT/bin/detinfer"; cp "$DETINFER_BENCH" "$OUT/bin/detinfer_bench"
SRC_DETINFER=$DETINFER; DETINFER="$OUT/bin/detinfer"; DETINFER_BENCH="$OUT/bin/detinfer_bench"

IDS=$(/usr/bin/python3 -c 'print(",".join(str((i*7919+13)%32000) for i in range(512)))')

{
  echo "date_utc=$(date -u +%FT%TZ)"
  echo "llama_cpp_commit=$(cat "$LLAMA_CPP/COMMIT_ID" 2>/dev/null || git -C "$LLAMA_CPP" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "detinfer_version=$($DETINFER --version 2>&1 | tr -d '\n')"
  echo "detinfer_commit=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "detinfer_tree_dirty_files=$(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^??' || true)"
  echo "detinfer_binary=$SRC_DETINFER mtime $(date -u -r "$SRC_DETINFER" +%FT%TZ) sha256 $(sha256sum "$DETINFER" | cut -c1-16)"
  echo "detinfer_bench_sha256=$(sha256sum "$DETINFER_BENCH" | cut -c1-16)"
  echo "llama_bench_sha256=$(sha256sum "$LCPP_BENCH" | cut -c1-16)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "detinfer_isa=$($DETINFER cpu-info 2>/dev/null | awk '/^selected/{print $2}')"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

probe() {  # $1 = start|end
  timeout 120 "$DETINFER_BENCH" --benchmark_filter='BM_ProbeReadBandwidth/threads:2' \
    --benchmark_repetitions=1 --benchmark_out="$OUT/probe_$1.json" --benchmark_out_format=json \
    > "$OUT/probe_$1.txt" 2>&1 || echo "probe $1 failed (see $OUT/probe_$1.txt)" >&2
}

det() {  # $1 = file, $2 = ids, $3 = output json
  timeout 180 "$DETINFER" generate "$1" --ids "$2" --max-tokens 129 --ignore-eos \
    --threads $THREADS --chunk 512 --kv-capacity 2048 --json > "$3" 2>"$3.err" || echo '{}' > "$3"
}

echo "probe (start) ..." >&2
probe start
for f in $FORMATS; do
  m="$MODELS/m110-$f.gguf"
  [ -f "$m" ] || { echo "missing $m" >&2; continue; }
  echo "[$f] llama-bench ..." >&2
  timeout 300 "$LCPP_BENCH" -m "$m" -t $THREADS -p 512 -n 128 -r "$REPS" -o json \
    > "$OUT/lcpp_$f.json" 2> "$OUT/lcpp_$f.err" || echo '[]' > "$OUT/lcpp_$f.json"
  echo "[$f] detinfer ..." >&2
  for i in 1 2; do det "$m" "$IDS" "$OUT/det_pp_${f}_$i.json"; done
  for i in 1 2; do det "$m" "1" "$OUT/det_tg_${f}_$i.json"; done
  "$DETINFER" info "$m" > "$OUT/det_info_$f.txt" 2>&1 || true
done
echo "probe (end) ..." >&2
probe end
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"

/usr/bin/python3 - "$OUT" "$FORMATS" <<'PY'
import json, sys, os
out, formats = sys.argv[1], sys.argv[2].split()
def load(p, default):
    try:
        with open(p) as fh: return json.load(fh)
    except Exception: return default
def probe(which):
    d = load(os.path.join(out, f"probe_{which}.json"), {})
    r = {}
    for b in d.get("benchmarks", []):
        if b.get("run_type") == "aggregate": continue
        key = "read_gbs" if "fma:0" in b["name"] else "read_fma_gbs"
        r[key] = b.get("GB")
    return r
env = dict(l.strip().split("=", 1) for l in open(os.path.join(out, "env.txt")) if "=" in l)
p0, p1 = probe("start"), probe("end")
rows = []
for f in formats:
    lc = load(os.path.join(out, f"lcpp_{f}.json"), [])
    pp = next((e for e in lc if e.get("n_prompt") == 512 and e.get("n_gen") == 0), {})
    tg = next((e for e in lc if e.get("n_prompt") == 0 and e.get("n_gen") == 128), {})
    dpp = [load(os.path.join(out, f"det_pp_{f}_{i}.json"), {}) for i in (1, 2)]
    dtg = [load(os.path.join(out, f"det_tg_{f}_{i}.json"), {}) for i in (1, 2)]
    def ttft(j): return j.get("timings", {}).get("time_to_first_token_ms")
    def dec(j): return j.get("timings", {}).get("decode_tokens_per_s")
    t = ttft(dpp[1])
    det_pp = 512e3 / t if t else None
    det_tg = dec(dtg[1])
    ratio = lambda a, b: (a / b) if a and b else None
    o = {
        "format": f,
        "llama_cpp": {"pp512_tok_s": pp.get("avg_ts"), "pp512_stddev": pp.get("stddev_ts"),
                      "tg128_tok_s": tg.get("avg_ts"), "tg128_stddev": tg.get("stddev_ts"),
                      "pp512_samples": pp.get("samples_ts"), "tg128_samples": tg.get("samples_ts"),
                      "model_type": pp.get("model_type"), "model_size": pp.get("model_size"),
                      "reps": len(pp.get("samples_ts") or [])},
        "detinfer": {"pp512_tok_s": det_pp, "ttft_ms_runs": [ttft(j) for j in dpp],
                     "pp512_tok_s_first_run": (512e3 / ttft(dpp[0])) if ttft(dpp[0]) else None,
                     "tg128_tok_s": det_tg, "tg128_tok_s_runs": [dec(j) for j in dtg],
                     "decode_after_512_tok_s": dec(dpp[1]),
                     "tokens_generated": len(dtg[1].get("tokens", [])),
                     "error": dtg[1].get("error") or dpp[1].get("error") or
                              (None if dtg[1] else open(os.path.join(out, f"det_tg_{f}_2.json.err")).read()[-300:])},
        "ratio_detinfer_over_llama_cpp": {"pp512": ratio(det_pp, pp.get("avg_ts")),
                                          "tg128": ratio(det_tg, tg.get("avg_ts"))},
        "probe_read_gbs": {"start": p0.get("read_gbs"), "end": p1.get("read_gbs")},
        "llama_cpp_commit": env.get("llama_cpp_commit"), "detinfer_commit": env.get("detinfer_commit"),
        "threads": 2,
    }
    rows.append(o)
    print(json.dumps(o))
with open(os.path.join(out, "summary.json"), "w") as fh: json.dump({"env": env, "probe_start": p0, "probe_end": p1, "formats": rows}, fh, indent=1)
fmt = lambda x, n=0: "n/a" if x is None else f"{x:.{n}f}"
print()
print(f"llama.cpp {env.get('llama_cpp_commit','?')[:12]} vs detinfer {env.get('detinfer_commit','?')[:12]}, "
      f"(+{env.get('detinfer_tree_dirty_files','?')} uncommitted files, binary sha256 {env.get('detinfer_binary','?').split('sha256 ')[-1]}), "
      f"{env.get('cpu','?')} (detinfer ISA {env.get('detinfer_isa','?')}), 2 threads; load avg {env.get('loadavg_start')} -> {env.get('loadavg_end')}")
print()
print("| format | llama.cpp pp512 | detinfer pp512 | ratio | llama.cpp tg128 | detinfer decode | ratio | detinfer decode @512 | probe GB/s (start/end) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for o in rows:
    l, d, r = o["llama_cpp"], o["detinfer"], o["ratio_detinfer_over_llama_cpp"]
    print(f"| {o['format']} | {fmt(l['pp512_tok_s'])} | {fmt(d['pp512_tok_s'])} | {fmt(r['pp512'],2)} | "
          f"{fmt(l['tg128_tok_s'],1)} | {fmt(d['tg128_tok_s'],1)} | {fmt(r['tg128'],2)} | {fmt(d['decode_after_512_tok_s'],1)} | "
          f"{fmt(p0.get('read_gbs'),1)}/{fmt(p1.get('read_gbs'),1)} |")
print()
print(f"raw outputs: {out}")
PY
