// `detinfer verify`: a seeded property test of the invariance contract (SPEC §A, §R) on any
// model, with a localiser for failures and the artefacts of SPEC §V (results.json,
// manifest.json). No case is ever skipped or retried: a divergence is reported as it happened.
#ifndef DETINFER_VERIFY_VERIFY_H_
#define DETINFER_VERIFY_VERIFY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/isa.h"
#include "core/status.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"
#include "verify/case_gen.h"
#include "verify/localiser.h"

namespace detinfer::verify {

struct VerifyOptions {
  int prompts = 50;
  int32_t max_tokens = 64;
  uint64_t seed = 1;
  std::vector<std::string> axes;  // empty: every axis
  int long_prompts = 4;           // cases that also run the long-256 axis
  int32_t long_tokens = 256;
  DType kv_dtype = DType::kBF16;  // rounding bugs are invisible in an f32 cache
  int threads = 0;                // of the reference; 0: all hardware threads
  Fault fault = Fault::kNone;     // planted for the whole run (tests and --inject-fault)
  bool localise = true;
};

struct CaseResult {
  int case_index = 0;
  std::string kind;
  std::string axis, section, detail;
  std::vector<int32_t> prompt_ids;
  int32_t max_new_tokens = 0;
  SamplingParams sampling;
  bool pass = false;
  int64_t steps_compared = 0;
  int64_t first_divergence_step = -1;  // -1: none
  std::string error;                   // a run that failed outright (counts as a failure)
  std::optional<Divergence> where;     // when the localiser ran and found a row
  std::string localiser_note;
  double seconds = 0;
};

struct VerifyReport {
  std::vector<CaseResult> results;
  std::vector<std::string> axes;  // in run order
  std::vector<Isa> isas;          // every path the axes used
  Isa reference_isa = Isa::kScalar;
  int threads = 1;
  double seconds = 0;
  int passed() const;
  int failed() const;
};

using Progress = std::function<void(int done, int total, const std::string& what)>;

// Runs every selected axis on every case. `model` carries the fault and, while localising,
// an observer; both are reset before returning.
Result<VerifyReport> RunVerify(Transformer& model, const Tokenizer* tokenizer,
                               const VerifyOptions& options, const Progress& progress = nullptr);

nlohmann::json ResultsJson(const VerifyReport& report);
// `model_files` are (path, sha256) pairs.
nlohmann::json ManifestJson(const VerifyReport& report, const VerifyOptions& options,
                            const std::string& model_path,
                            const std::vector<std::pair<std::string, std::string>>& model_files);
// One line per axis: cases, passed, failed, first divergent step min/max; then what ran.
std::string SummaryTable(const VerifyReport& report, const VerifyOptions& options);

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_VERIFY_H_
