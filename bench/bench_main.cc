// detinfer_bench: Google Benchmark runner that, after the runs, prints the figures that matter
// as ratios to the machine probes measured in the same run, and writes them to JSON.
//
// Every benchmark runs with repetitions; the summary uses medians.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_common.h"

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

// Keeps the median of every benchmark's counters, by run name.
class MedianCollector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.aggregate_name == "median" || (r.aggregate_name.empty() && r.repetitions <= 1)) {
        auto& c = medians_[r.run_name.str()];
        for (const auto& [name, counter] : r.counters) c[name] = counter.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, std::map<std::string, double>>& medians() const { return medians_; }

 private:
  std::map<std::string, std::map<std::string, double>> medians_;
};

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

}  // namespace
}  // namespace detinfer::bench

int main(int argc, char** argv) {
  using namespace detinfer::bench;
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

  const double read_bw = Get(collector, "BM_ProbeReadBandwidth/threads:2/real_time", "GB");
  const double peak = Get(collector, "BM_ProbeFmaPeak/threads:2/real_time", "GFLOP");
  const double decode_bw = Get(collector, MatmulName(1, 4096, 4096, 1, 2), "GB");
  const double prefill = Get(collector, MatmulName(512, 4096, 4096, 0, 2), "GFLOP");
  const double attn_decode = Get(collector, "BM_AttentionDecode/S:4096/cold:1/real_time", "GB");
  const double attn_prefill = Get(collector, "BM_AttentionPrefill/S:2048/real_time", "GFLOP");
  nlohmann::json summary = {
      {"isa", detinfer::IsaName(BenchIsa())},
      {"threads", 2},
      {"probe_read_bandwidth_gbs", read_bw},
      {"probe_triad_bandwidth_gbs", Get(collector, "BM_ProbeTriadBandwidth/threads:2/real_time", "GB")},
      {"probe_fma_peak_gflops", peak},
      {"matmul_decode_bf16_4096_weight_gbs", decode_bw},
      {"matmul_prefill_f32_512x4096x4096_gflops", prefill},
      {"attention_decode_bf16_s4096_kv_gbs", attn_decode},
      {"attention_prefill_bf16_s2048_gflops", attn_prefill},
  };
  std::printf("\n%-76s %10s %10s %8s\n", "figure (median, 2 threads)", "value", "limit", "ratio");
  auto row = [&](const char* what, double v, double limit, const char* key) {
    if (v == 0 || limit == 0) return;  // filtered out of this run
    std::printf("%-76s %10.1f %10.1f %7.0f%%\n", what, v, limit, 100 * v / limit);
    summary[key] = v / limit;
  };
  row("matmul M=1 K=N=4096 bf16: weight GB/s vs read BW", decode_bw, read_bw, "decode_ratio");
  row("matmul M=512 K=N=4096 f32: GFLOP/s vs FMA peak", prefill, peak, "prefill_ratio");
  row("attention decode S=4096 32/8 heads D=128 bf16: KV GB/s vs read BW", attn_decode, read_bw,
      "attention_decode_ratio");
  row("attention prefill S=2048 causal 32/8 heads D=128 bf16: GFLOP/s vs FMA peak", attn_prefill,
      peak, "attention_prefill_ratio");
  const char* out = std::getenv("DETINFER_BENCH_SUMMARY");
  const std::string path = out ? out : "bench-summary.json";
  std::ofstream(path) << summary.dump(2) << "\n";
  std::printf("summary written to %s\n", path.c_str());
  return 0;
}
