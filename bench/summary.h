// bench-summary.json: every figure with the time it was measured and the machine probes
// measured in the same run, merged across runs, so that a run filtered to a few benchmarks
// updates what it measured and leaves every other figure as an earlier run measured it.
#ifndef DETINFER_BENCH_SUMMARY_H_
#define DETINFER_BENCH_SUMMARY_H_

#include <string>

#include <nlohmann/json.hpp>

namespace detinfer::bench {

// Where the summary goes: $DETINFER_BENCH_SUMMARY, else bench-summary.json beside the
// benchmark binary (the build directory), never the working directory.
std::string SummaryPath();

// `fresh` ({key: {"value", "measured_at", "isa", "threads", "probes"}}) laid over `previous`:
// a summary this function returned (its "figures"), the flat file of older runs (its non-zero
// numbers, which were the measured ones, imported without a time), or anything else (ignored).
// A key in `fresh` replaces its earlier record whole; every other keeps its value, time and
// probes.
nlohmann::json MergeSummary(const nlohmann::json& previous, const nlohmann::json& fresh,
                            const std::string& now);

// The summary at `path`, or null when there is none or it does not parse (it is replaced).
nlohmann::json ReadSummary(const std::string& path);
// Writes through a temporary file and a rename, so an interrupted run leaves the old summary.
bool WriteSummary(const std::string& path, const nlohmann::json& summary);

}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_SUMMARY_H_
