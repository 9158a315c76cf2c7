// detinfer_bench: Google Benchmark runner that, after the runs, prints the figures that matter
// as ratios to the machine probes measured in the same run, and writes them to JSON.
//
// Every benchmark runs with repetitions; the summary uses medians.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_common.h"
#include "bench_model.h"
#include "core/utc_time.h"
#include "summary.h"

namespace detinfer::bench {

Isa BenchIsa() {
  static const Isa isa = [] {
    auto r = SelectIsaFromEnvironment(DetectCpuFeatures());
    if (!r.ok()) {
      std::fprintf(stderr, "detinfer_bench: %s\n", r.status().message().c_str());
      std::exit(2);
    }
    return *r;
  }();
  return isa;
}

namespace {

// Keeps the median of every benchmark's counters, by run name, and for the benchmarks that
// compute them (ComputeStatistics) their lowest and highest over the repetitions beside it, as
// "<counter>.min" / "<counter>.max".
class MedianCollector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.aggregate_name == "median" || (r.aggregate_name.empty() && r.repetitions <= 1)) {
        auto& c = medians_[r.run_name.str()];
        for (const auto& [name, counter] : r.counters) c[name] = counter.value;
      }
      if (r.aggregate_name == "min" || r.aggregate_name == "max") {  // where a bench asks for them
        auto& c = medians_[r.run_name.str()];
        for (const auto& [name, counter] : r.counters) c[name + "." + r.aggregate_name] = counter.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, std::map<std::string, double>>& medians() const { return medians_; }

 private:
  std::map<std::string, std::map<std::string, double>> medians_;
};

// Whether `name` ran in this process (a filtered run leaves most out).
bool Ran(const MedianCollector& c, const std::string& name) {
  return c.medians().find(name) != c.medians().end();
}

double Get(const MedianCollector& c, const std::string& name, const std::string& counter) {
  auto it = c.medians().find(name);
  if (it == c.medians().end()) return 0;
  auto jt = it->second.find(counter);
  return jt == it->second.end() ? 0 : jt->second;
}

std::string MatmulName(int m, int k, int n, int dtype, int threads) {
  return "BM_Matmul/M:" + std::to_string(m) + "/K:" + std::to_string(k) + "/N:" +
         std::to_string(n) + "/dtype:" + std::to_string(dtype) + "/threads:" +
         std::to_string(threads) + "/real_time";
}

// Where the plot and its data go: beside the summary JSON.
std::string OutDir(const std::string& summary_path) {
  const size_t slash = summary_path.rfind('/');
  return slash == std::string::npos ? "" : summary_path.substr(0, slash + 1);
}

// A PNG of time to first token vs prefix overlap, drawn by gnuplot when it is installed
// (`make bench` installs it); the table above and the JSON hold the same numbers.
void PlotTtft(const std::string& dir) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::printf("(gnuplot not found: no ttft.png; the table above has the figures)\n");
    return;
  }
  const std::string script = dir + "ttft.gp";
  std::ofstream gp(script);
  gp << "set terminal pngcairo size 800,500\n"
     << "set output '" << dir << "ttft.png'\n"
     << "set title 'Time to first token, 1024-token prompt (110M bf16, 2 threads)'\n"
     << "set xlabel 'prompt prefix already cached (%)'\nset ylabel 'ms'\n"
     << "set style data histogram\nset style histogram cluster gap 1\n"
     << "set style fill solid 0.8\nset boxwidth 0.9\nset key top right\n"
     << "plot '" << dir << "ttft.dat' using 2:xtic(1) title 'prefix cache off', "
     << "'' using 3 title 'prefix cache on'\n";
  gp.close();
  if (std::system(("gnuplot '" + script + "'").c_str()) == 0) {
    std::printf("plot written to %sttft.png\n", dir.c_str());
  }
}

}  // namespace
}  // namespace detinfer::bench

namespace detinfer::bench {
int MemoryProbeMain(const char* path, const char* cache_dir);  // memory_bench.cc: the fresh process BM_ModelMemory runs
int DecodeAbMain(const char* path, const char* cache_dir, const char* tokens);  // memory_bench.cc
}  // namespace detinfer::bench

int main(int argc, char** argv) {
  using namespace detinfer::bench;
  if (argc == 4 && std::string(argv[1]) == "--memory-probe") return MemoryProbeMain(argv[2], argv[3]);
  if (argc == 5 && std::string(argv[1]) == "--decode-ab") return DecodeAbMain(argv[2], argv[3], argv[4]);
  // Medians of 5 unless the caller says otherwise.
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=5";
  std::string agg = "--benchmark_report_aggregates_only=true";
  bool has_reps = false;
  for (int i = 1; i < argc; ++i) has_reps |= std::string(argv[i]).rfind("--benchmark_repetitions", 0) == 0;
  if (!has_reps) {
    args.insert(args.begin() + 1, reps.data());
    args.insert(args.begin() + 2, agg.data());
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  std::printf("detinfer_bench: ISA path %s\n", std::string(detinfer::IsaName(BenchIsa())).c_str());
  MedianCollector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();

  // Every figure this run measured, with the time and the probes measured beside it; merged
  // into the summary file so that figures a filtered run did not measure keep their values.
  const std::string now = detinfer::UtcNow();
  const std::string isa_name(detinfer::IsaName(BenchIsa()));
  nlohmann::json fresh = nlohmann::json::object();
  nlohmann::json probes = nlohmann::json::object();
  auto put = [&](const std::string& key, const nlohmann::json& value, bool with_probes) {
    fresh[key] = {{"value", value}, {"measured_at", now}, {"isa", isa_name}, {"threads", 2}};
    if (with_probes) fresh[key]["probes"] = probes;
  };
  // A machine probe: a figure itself, and a limit the other figures carry.
  auto probe = [&](const char* key, const std::string& run, const char* counter) {
    if (!Ran(collector, run)) return 0.0;
    const double v = Get(collector, run, counter);
    probes[key] = v;
    put(key, v, false);
    return v;
  };
  const double read_bw =
      probe("probe_read_bandwidth_gbs", "BM_ProbeReadBandwidth/threads:2/fma:0/real_time", "GB");
  const double read_fma_bw = probe("probe_read_with_8_fma_per_64b_gbs",
                                   "BM_ProbeReadBandwidth/threads:2/fma:1/real_time", "GB");
  probe("probe_triad_bandwidth_gbs", "BM_ProbeTriadBandwidth/threads:2/real_time", "GB");
  const double peak = probe("probe_fma_peak_gflops", "BM_ProbeFmaPeak/threads:2/real_time", "GFLOP");
  // A kernel figure, when its benchmark ran.
  auto figure = [&](const char* key, const std::string& run, const char* counter) {
    if (!Ran(collector, run)) return 0.0;
    const double v = Get(collector, run, counter);
    put(key, v, true);
    return v;
  };
  const double decode_bw =
      figure("matmul_decode_bf16_4096_weight_gbs", MatmulName(1, 4096, 4096, 1, 2), "GB");
  const double prefill =
      figure("matmul_prefill_f32_512x4096x4096_gflops", MatmulName(512, 4096, 4096, 0, 2), "GFLOP");
  // tiled:1 is the KV cache's layout (paged, key-tiled), tiled:0 contiguous [S, Hkv, D] K/V.
  const double attn_decode = figure("attention_decode_bf16_s4096_kv_gbs",
                                    "BM_AttentionDecode/S:4096/cold:1/tiled:1/real_time", "GB");
  const double attn_decode_contig =
      figure("attention_decode_bf16_s4096_contiguous_kv_gbs",
             "BM_AttentionDecode/S:4096/cold:1/tiled:0/real_time", "GB");
  const double attn_prefill = figure("attention_prefill_bf16_s2048_gflops",
                                     "BM_AttentionPrefill/S:2048/tiled:1/real_time", "GFLOP");
  const double attn_prefill_contig =
      figure("attention_prefill_bf16_s2048_contiguous_gflops",
             "BM_AttentionPrefill/S:2048/tiled:0/real_time", "GFLOP");
  // Sliding-window decode: the time at 16k keys over the time at 1k, window 512 (flat = 1).
  const std::string win = "BM_AttentionDecodeWindow/S:";
  if (Ran(collector, win + "1024/window:512/real_time") &&
      Ran(collector, win + "16384/window:512/real_time")) {
    const double t1 = 1.0 / Get(collector, win + "1024/window:512/real_time", "calls");
    const double t16 = 1.0 / Get(collector, win + "16384/window:512/real_time", "calls");
    if (t1 > 0 && std::isfinite(t1) && std::isfinite(t16)) {
      put("attention_decode_window512_s16k_over_s1k_time", t16 / t1, true);
      std::printf("\nsliding-window decode (window 512): time at S=16384 / time at S=1024 = %.2f\n",
                  t16 / t1);
    }
  }
  const double moe_decode = figure("moe_decode_qwen3_moe_8of64_bf16_active_gbs",
                                   "BM_MoeDecode/threads:2/iterations:1/real_time", "GB");
  // Decode figures divide by the read probe taken right before and after them (bench_common.h),
  // the run's probe only when that is missing.
  const auto adjacent_probe = [&](const std::string& run) {
    const double v = Ran(collector, run) ? Get(collector, run, "probe_GB/s") : 0.0;
    return v > 0 ? v : read_bw;
  };
  const double moe_probe = adjacent_probe("BM_MoeDecode/threads:2/iterations:1/real_time");
  std::printf("\n%-76s %10s %10s %8s\n", "figure (median, 2 threads)", "value", "limit", "ratio");
  auto row = [&](const char* what, double v, double limit, const char* key) {
    if (v == 0 || limit == 0) return;  // filtered out of this run
    std::printf("%-76s %10.1f %10.1f %7.0f%%\n", what, v, limit, 100 * v / limit);
    put(key, v / limit, true);
  };
  row("matmul M=1 K=N=4096 bf16: weight GB/s vs read BW", decode_bw, read_bw, "decode_ratio");
  row("matmul M=512 K=N=4096 f32: GFLOP/s vs FMA peak", prefill, peak, "prefill_ratio");
  row("attention decode S=4096 32/8 heads D=128 bf16, KV cache layout: KV GB/s vs read BW",
      attn_decode, read_bw, "attention_decode_ratio");
  row("  same, contiguous [S, Hkv, D] K/V: KV GB/s vs read BW", attn_decode_contig, read_bw,
      "attention_decode_contiguous_ratio");
  row("read stream with 8 FMA per 64 B (decode attention's ratio): GB/s vs read BW", read_fma_bw,
      read_bw, "read_with_fma_ratio");
  row("MoE decode, Qwen3-MoE shape, 8 of 64 experts, bf16: active-weight GB/s vs read BW",
      moe_decode, moe_probe, "moe_decode_ratio");
  row("attention prefill S=2048 causal 32/8 heads D=128 bf16, KV cache layout: GFLOP/s vs peak",
      attn_prefill, peak, "attention_prefill_ratio");
  row("  same, contiguous [S, Hkv, D] K/V: GFLOP/s vs FMA peak", attn_prefill_contig, peak,
      "attention_prefill_contiguous_ratio");

  // Model level, on the 110M shape, every weight format, beside llama.cpp's figures for the same
  // shape and files (2 threads, AVX-512, on a machine of this kind whose read probe gave
  // 50.7 GB/s; issue #16). Machines of this kind differ by 1.5x, so the anchor ratio is a guide;
  // the roofline ratio (weight bytes per token x tok/s over the read probe taken around it) is
  // the figure that transfers. Anchors: tg128 F32/BF16/F16/Q8_0/Q4_0/Q4_K_M
  // 98/196/193/294/468/466 tok/s, pp512 1460/2300/1750/1510/2553/1920 tok/s (none published
  // here for Q5_K_M, Q6_K).
  const double kDecodeAnchor[kNumBenchFormats] = {98, 196, 193, 294, 468, 466, 0, 0};
  const double kPrefillAnchor[kNumBenchFormats] = {1460, 2300, 1750, 1510, 2553, 1920, 0, 0};
  bool any_model = false;  // a filtered run prints no empty table
  for (int f = 0; f < kNumBenchFormats; ++f) {
    const std::string fargs = std::to_string(f) + "/threads:2/iterations:1/real_time";
    any_model |= Ran(collector, "BM_ModelDecode/format:" + fargs) ||
                 Ran(collector, "BM_ModelPrefill/format:" + fargs);
  }
  if (any_model) {
    // "vs read probe": the median over repetitions of each decode pass's weight GB/s over the
    // probe taken around it (model_bench.cc), with the lowest and highest of them.
    std::printf("\n%-8s %10s %10s %10s %9s %10s %10s %11s %9s %10s\n", "110M", "decode", "weight",
                "read probe", "vs read", "lo-hi", "vs llama", "prefill", "vs llama", "GFLOP/s");
    std::printf("%-8s %10s %10s %10s %9s %10s %10s %11s %9s %10s\n", "format", "tok/s", "GB/s",
                "GB/s (adj)", "probe", "(reps)", "decode", "pp512 tok/s", "pp512", "vs peak");
  }
  for (int f = 0; f < kNumBenchFormats; ++f) {
    const std::string fargs = std::to_string(f) + "/threads:2/iterations:1/real_time";
    const std::string dn = "BM_ModelDecode/format:" + fargs, pn = "BM_ModelPrefill/format:" + fargs;
    const double tps = Get(collector, dn, "tok/s"), gbs = Get(collector, dn, "GB");
    const double dprobe = adjacent_probe(dn);
    const double roofline = Get(collector, dn, "vs_probe");
    const double roof_lo = Get(collector, dn, "vs_probe.min"), roof_hi = Get(collector, dn, "vs_probe.max");
    const double pps = Get(collector, pn, "tok/s"), gflops = Get(collector, pn, "GFLOP");
    if (tps == 0 && pps == 0) continue;  // filtered out of this run
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    std::printf("%-8s %10.1f %10.1f %10.1f %8.0f%% %4.0f-%3.0f%% %9.0f%% %11.1f %8.0f%% %9.0f%%\n",
                kBenchFormats[f], tps, gbs, tps > 0 ? dprobe : 0.0, 100 * roofline, 100 * roof_lo,
                100 * roof_hi, 100 * ratio(tps, kDecodeAnchor[f]), pps,
                100 * ratio(pps, kPrefillAnchor[f]), 100 * ratio(gflops, peak));
    // Only what this run measured, and a ratio only to a limit it measured (a 0 would
    // overwrite a real figure of an earlier run).
    const std::string key = std::string("model_110m.") + kBenchFormats[f] + ".";
    auto put_ratio = [&](const char* name, double a, double b) {
      if (a > 0 && b > 0) put(key + name, a / b, true);
    };
    if (Ran(collector, dn)) {
      put(key + "decode_tok_s", tps, true);
      put(key + "decode_weight_gbs", gbs, true);
      put(key + "decode_adjacent_read_probe_gbs", dprobe, true);
      put(key + "decode_roofline_ratio", roofline, true);
      put(key + "decode_roofline_ratio_lowest_repetition", roof_lo, true);
      put(key + "decode_roofline_ratio_highest_repetition", roof_hi, true);
      put_ratio("decode_vs_llama_cpp_anchor", tps, kDecodeAnchor[f]);
    }
    if (Ran(collector, pn)) {
      put(key + "prefill_pp512_tok_s", pps, true);
      put_ratio("prefill_vs_llama_cpp_anchor", pps, kPrefillAnchor[f]);
      put_ratio("prefill_gflops_vs_fma_peak", gflops, peak);
    }
  }
  // Memory and load (issue #23): a fresh process per format, cold and warm page cache.
  bool any_memory = false;
  for (int f = 0; f < kNumBenchFormats; ++f) {
    const std::string run = "BM_ModelMemory/format:" + std::to_string(f) + "/iterations:1/real_time";
    if (!Ran(collector, run)) continue;
    if (!any_memory) {
      // RSS / bar: peak RSS over issue #23's bar, 1.1 x weights + KV used (<= 1 meets it);
      // "hit": the same with the weights mapped from a packed-weight cache file.
      std::printf("\n%-8s %10s %10s %12s %12s %10s %10s %12s %12s\n", "110M", "weights",
                  "KV used", "peak RSS", "RSS / (w+KV)", "RSS / bar", "(hit)", "cold load",
                  "warm load");
      any_memory = true;
    }
    const double wmb = Get(collector, run, "weights_mb"), kv = Get(collector, run, "kv_used_mb");
    const double rss = Get(collector, run, "peak_rss_mb"), ratio = Get(collector, run, "rss_vs_weights_plus_kv");
    const double bar = Get(collector, run, "rss_vs_bar"), bar_hit = Get(collector, run, "rss_vs_bar_cache_hit");
    const double cold = Get(collector, run, "load_cold_ms"), warm = Get(collector, run, "load_warm_ms");
    std::printf("%-8s %8.1f MB %8.1f MB %9.1f MB %12.2f %10.3f %10.3f %9.1f ms %9.1f ms\n",
                kBenchFormats[f], wmb, kv, rss, ratio, bar, bar_hit, cold, warm);
    const std::string key = std::string("model_110m.") + kBenchFormats[f] + ".";
    put(key + "weights_mb", wmb, false);
    put(key + "peak_rss_mb", rss, false);
    put(key + "rss_vs_weights_plus_kv", ratio, false);
    put(key + "rss_vs_bar", bar, false);
    put(key + "rss_vs_bar_cache_hit", bar_hit, false);
    put(key + "load_cold_ms", cold, true);
    put(key + "load_warm_ms", warm, true);
  }
  // The 1B shape (bf16): peak RSS, and the warm load from its packed-weight cache file.
  const std::string one_b = "BM_ModelMemory1B/iterations:1/repeats:1/real_time";
  if (Ran(collector, one_b)) {
    const double wmb = Get(collector, one_b, "weights_mb"), kv = Get(collector, one_b, "kv_used_mb");
    const double rss = Get(collector, one_b, "peak_rss_mb");
    const double ratio = Get(collector, one_b, "rss_vs_weights_plus_kv");
    const double bar = Get(collector, one_b, "rss_vs_bar");
    const double hit = Get(collector, one_b, "load_cache_hit_ms");
    std::printf("\n%-8s %10s %10s %12s %12s %10s %12s %12s\n", "1B", "weights", "KV used",
                "peak RSS", "RSS / (w+KV)", "RSS / bar", "warm load", "cache hit");
    std::printf("%-8s %8.1f MB %8.1f MB %9.1f MB %12.2f %10.3f %9.1f ms %9.1f ms\n", "bf16", wmb, kv,
                rss, ratio, bar, Get(collector, one_b, "load_warm_ms"), hit);
    put("model_1b.bf16.weights_mb", wmb, false);
    put("model_1b.bf16.peak_rss_mb", rss, false);
    put("model_1b.bf16.rss_vs_weights_plus_kv", ratio, false);
    put("model_1b.bf16.rss_vs_bar", bar, false);
    put("model_1b.bf16.load_warm_ms", Get(collector, one_b, "load_warm_ms"), true);
    put("model_1b.bf16.load_cache_hit_ms", hit, true);
  }
  const std::string load = "BM_ModelLoad/iterations:3/real_time";
  if (Ran(collector, load)) {
    put("model_load_map_validate_ms", Get(collector, load, "map_validate_ms"), true);
    put("model_load_pack_ms", Get(collector, load, "pack_ms"), true);
  }
  // Text in and out (issue #17): encode speed on 1 MB of mixed text per tokenizer file (the
  // side-by-side with Hugging Face's library is scripts/tokenizer-reference/bench.sh), and a
  // chat template render (target: a 20-message conversation in under 1 ms).
  const char* kTokenizerFiles[] = {"llama2", "gemma3_subset", "unigram_synthetic"};
  for (int f = 0; f < 3; ++f) {
    const std::string run = "BM_TokenizeText/file:" + std::to_string(f);
    if (!Ran(collector, run)) continue;
    const double mbs = Get(collector, run, "MB/s");
    std::printf("tokenize 1 MB of mixed text, %-18s %10.1f MB/s\n", kTokenizerFiles[f], mbs);
    put(std::string("tokenize_mb_per_s.") + kTokenizerFiles[f], mbs, false);
  }
  row("chat template render, Qwen3, 20 messages: us vs the 1 ms target",
      Get(collector, "BM_ChatTemplateRender", "us_per_render"), 1000.0,
      "chat_template_render_vs_1ms");
  const std::string path = SummaryPath();

  // Engine: throughput vs concurrency (target: c16 >= 3x c1) and time to first token vs the
  // share of a 1024-token prompt already cached (target: a 100% hit >= 10x faster than cold).
  auto conc = [&](int c) {
    return Get(collector, "BM_EngineDecodeConcurrency/concurrency:" + std::to_string(c) +
                              "/iterations:1/repeats:3/real_time", "tok/s");
  };
  row("engine decode throughput: concurrency 16 vs 1 (target >= 300%)", conc(16), conc(1),
      "engine_c16_over_c1");
  auto ttft = [&](int pct, int warm) {
    return Get(collector, "BM_EngineTimeToFirstToken/overlap_pct:" + std::to_string(pct) +
                              "/warm:" + std::to_string(warm) + "/iterations:1/repeats:3/real_time",
               "ttft_ms");
  };
  row("engine TTFT, 1024-token prompt: cold vs 100% prefix hit (target >= 1000%)", ttft(100, 0),
      ttft(100, 1), "engine_ttft_cold_over_hit");
  if (ttft(0, 0) > 0) {
    std::printf("\ntime to first token (ms), 1024-token prompt, 110M bf16, 2 threads\n");
    std::printf("%-12s %10s %10s %8s\n", "overlap", "cold", "cached", "speedup");
    nlohmann::json table = nlohmann::json::array();
    std::ofstream dat(OutDir(path) + "ttft.dat");
    for (int pct : {0, 25, 50, 75, 100}) {
      const double c = ttft(pct, 0), w = ttft(pct, 1);
      std::printf("%-12s %10.1f %10.1f %7.1fx\n", (std::to_string(pct) + "%").c_str(), c, w,
                  w > 0 ? c / w : 0.0);
      table.push_back({{"overlap_pct", pct}, {"cold_ms", c}, {"cached_ms", w}});
      dat << pct << " " << c << " " << w << "\n";
    }
    put("engine_ttft_table", table, true);
    dat.close();
    PlotTtft(OutDir(path));
  }

  // Speculative decoding (issue #21): decode tok/s with guesses over plain decoding (each
  // iteration runs both, back to back), on a copy-heavy workload (target >= 2x), one with
  // nothing to copy (target >= 0.95x), and one whose every guess is wrong (the back-off's cost);
  // prompt lookup at k = 5 and 8, a 2-layer draft model at k = 5.
  for (int draft : {0, 1}) {
    for (int k : {5, 8}) {
      for (int w : {0, 1, 2}) {
        const std::string run = "BM_SpeculativeDecode/workload:" + std::to_string(w) + "/k:" +
                                std::to_string(k) + "/draft:" + std::to_string(draft) +
                                "/iterations:1/repeats:3/real_time";
        if (!Ran(collector, run)) continue;
        const char* names[] = {"copy", "nomatch", "allwrong"};
        const char* what[] = {", copy-heavy: decode speed-up (target >= 2x)",
                              ", no match: decode speed-up (target >= 0.95x)",
                              ", every guess wrong: decode speed-up"};
        const std::string key = std::string("speculative_") + (draft ? "draft2_" : "") +
                                names[w] + "_k" + std::to_string(k);
        std::printf("%-76s %10.2f %10s %7.0f%%\n",
                    (std::string("speculative ") + (draft ? "2-layer draft" : "lookup") +
                     " k=" + std::to_string(k) + what[w]).c_str(),
                    Get(collector, run, "speedup"), "accepted", 100 * Get(collector, run, "accept"));
        put(key + "_speedup", Get(collector, run, "speedup"), true);
        put(key + "_acceptance", Get(collector, run, "accept"), true);
        put(key + "_decode_tok_s", Get(collector, run, "tok/s"), true);
      }
    }
  }

  const nlohmann::json merged = MergeSummary(ReadSummary(path), fresh, now);
  if (!WriteSummary(path, merged)) {
    std::fprintf(stderr, "detinfer_bench: cannot write the summary to %s\n", path.c_str());
    return 1;
  }
  std::printf("summary written to %s (%zu figures measured in this run, %zu kept from earlier runs)\n",
              path.c_str(), fresh.size(), merged["figures"].size() - fresh.size());
  return 0;
}
