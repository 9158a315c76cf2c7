#include "summary.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace detinfer::bench {

namespace {

// The flat summaries of older runs: nested objects become dotted keys ("model_110m.bf16.x");
// zeros were written for figures a run did not measure, so they are not figures.
void ImportFlat(const nlohmann::json& j, const std::string& prefix, nlohmann::json* out) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) {
      ImportFlat(v, key, out);
    } else if ((v.is_number() && v.get<double>() != 0) || (v.is_array() && !v.empty())) {
      if (key == "threads") continue;  // the run's setting, not a figure
      (*out)[key] = {{"value", v},
                     {"measured_at", nullptr},
                     {"note", "from a summary written before figures carried their time and probes"}};
    }
  }
}

}  // namespace

std::string SummaryPath() {
  const char* env = std::getenv("DETINFER_BENCH_SUMMARY");
  if (env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "bench-summary.json";  // no /proc: the only place left to put it
  return (exe.parent_path() / "bench-summary.json").string();
}

nlohmann::json MergeSummary(const nlohmann::json& previous, const nlohmann::json& fresh,
                            const std::string& now) {
  nlohmann::json figures = nlohmann::json::object();
  if (previous.is_object() && previous.contains("figures") && previous["figures"].is_object()) {
    figures = previous["figures"];
  } else if (previous.is_object()) {
    ImportFlat(previous, "", &figures);
  }
  for (const auto& [k, v] : fresh.items()) figures[k] = v;
  return {{"format", 2},
          {"about",
           "each figure: its value, when it was measured, the ISA path and threads, and the "
           "machine probes measured in the same run (ratios are to those); figures a later, "
           "filtered run did not measure keep their own time and probes"},
          {"updated_at", now},
          {"figures", figures}};
}

nlohmann::json ReadSummary(const std::string& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

bool WriteSummary(const std::string& path, const nlohmann::json& summary) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp);
    f << summary.dump(2) << "\n";
    if (!f.flush()) return false;
  }
  std::error_code ec, ignored;
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ignored);
  return !ec;
}

}  // namespace detinfer::bench
