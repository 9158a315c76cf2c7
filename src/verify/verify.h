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
  int long_prompts = 4;           // cases that also run the long axis (LongAxisName)
  int32_t long_tokens = 256;
  // f32, as generate/score/serve use; bf16 or f16 also check that K/V are rounded once (a
  // rounding bug is invisible in an f32 cache).
  DType kv_dtype = DType::kF32;
  int threads = 0;                // of the reference; 0: all hardware threads
  Fault fault = Fault::kNone;     // planted for the whole run (tests and --inject-fault)
  bool localise = true;
  // The defaults FitToContext shortened (0: not shortened), so that the summary and the
  // manifest say the run is not the one the defaults describe.
  int32_t max_tokens_shortened_from = 0;
  int32_t long_tokens_shortened_from = 0;
};

// Whether `o` runs the long axis at all (selected, and --long-prompts > 0).
bool RunsLongAxis(const VerifyOptions& o);

// Makes --max-tokens and --long-tokens fit a model whose context is `context` tokens. A
// default (`*_given` false) that leaves less than a quarter of the context for the prompt is
// shortened to leave that quarter, and recorded in *_shortened_from; a given value that
// leaves no room for even a one-token prompt is an InvalidArgument naming the flag and the
// limit. Returns what was shortened for a note on stderr ("" when nothing was), e.g.
// "MODEL has a 64-token context; generating 48 tokens per prompt (--max-tokens)".
Result<std::string> FitToContext(VerifyOptions* o, int64_t context, bool max_tokens_given,
                                 bool long_tokens_given, const std::string& model_name);

// "[done/total pct%] what, ETA 3m05s": the remaining time extrapolated from `elapsed_s` and
// the share of cases done ("ETA --" before the first; "done in ..." at the end).
std::string ProgressText(int done, int total, const std::string& what, double elapsed_s);

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
  int64_t context = 0;  // the model's max_seq_len
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
