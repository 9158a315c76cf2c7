// The axes `detinfer verify` varies (SPEC §A, §R) and how each runs one case.
//
// Every axis compares two sides of a case: a reference side and a variant side, each giving
// one vector of values per step (a generated token's raw logprob; a position's stored K/V; a
// position's logits) that must be bitwise equal. Most axes share the standard reference: the
// request alone in an engine, one full prefill, then token-by-token decode, prefix cache off,
// the best ISA path and the configured thread count.
#ifndef DETINFER_VERIFY_AXES_H_
#define DETINFER_VERIFY_AXES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "kernels/context.h"
#include "model/transformer.h"
#include "verify/case_gen.h"

namespace detinfer::verify {

struct Outcome {
  std::vector<std::vector<float>> steps;  // per step, the values that must be equal bit for bit
  std::vector<int32_t> tokens;            // per step, its token
  std::vector<int32_t> fed;               // the target sequence's tokens (for the localiser)
  std::string detail;                     // what this run chose (chunk size, boundary, ...)
};

// The first step where the two outcomes differ (token, value bits or length), -1 if none.
int64_t FirstDivergentStep(const Outcome& a, const Outcome& b);

struct AxisSettings {
  Isa reference_isa = Isa::kScalar;
  int threads = 1;  // of the reference
  DType kv_dtype = DType::kF32;
  int32_t long_tokens = 256;  // fits the context (FitToContext)
};

class AxisEnv {
 public:
  AxisEnv(const Transformer& model, const AxisSettings& settings)
      : model_(model), settings_(settings) {}
  const Transformer& model() const { return model_; }
  const AxisSettings& settings() const { return settings_; }
  KernelContext Context(Isa isa, int threads);  // pools are made once per thread count
  KernelContext ReferenceContext() { return Context(settings_.reference_isa, settings_.threads); }
  // The standard reference's engine options (full prefill, no prefix cache).
  EngineOptions ReferenceOptions() const;

 private:
  const Transformer& model_;
  AxisSettings settings_;
  std::map<int, std::unique_ptr<ThreadPool>> pools_;
};

// One side of an axis. `variant` false: the reference side. `limit` >= 0 caps the generated
// tokens (the localiser re-runs only up to the first divergent step); -1: the whole case.
// `reference` is the standard reference's outcome for the case.
using AxisRun = std::function<Result<Outcome>(AxisEnv& env, const VerifyCase& c,
                                              const Outcome& reference, bool variant,
                                              int64_t limit)>;

struct AxisDef {
  std::string name;     // e.g. "cache-off"
  std::string section;  // e.g. "A5"
  std::string what;     // one line for the summary and docs
  bool long_only = false;  // the long generation: runs on the first --long-prompts cases
  AxisRun run;
};

// The long axis is named by its length ("long-48"); --axes also takes "long" and the name it
// had when the length was fixed, "long-256".
std::string LongAxisName(int32_t long_tokens);
bool IsLongAxisName(const std::string& name, int32_t long_tokens);

// Every axis this CPU can run (one ISA axis per supported path other than the reference's);
// the long axis is named for `long_tokens` (LongAxisName).
std::vector<AxisDef> AllAxes(const std::vector<Isa>& isas, Isa reference_isa,
                             int32_t long_tokens = 256);

// The standard reference of a request.
Result<Outcome> RunReference(AxisEnv& env, const Request& request, int64_t limit = -1);

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_AXES_H_
