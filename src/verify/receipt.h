// Run receipts (SPEC §V, issue #22): what is needed to replay one generation anywhere — on
// another machine, another ISA path or processor family, another thread count or batch — and
// to check it step by step.
//
// A receipt is versioned JSON (docs/receipts.md): the model's and tokenizer's content hashes,
// the request (prompt ids, sampling parameters, seed, stops), the engine version, the schedule
// id and KV dtype, every generated step (token id, logprob, and the logprob's exact bits) and a
// hash chain over the steps:
//     chain_0 = XXH3-64(schedule id)
//     chain_i = XXH3-64(chain_{i-1} as 8 little-endian bytes, token as 4, logprob bits as 4)
// so a receipt edited after the run (one token, one logprob bit) is caught at the step edited,
// and a replay that differs is named at its first differing step.
#ifndef DETINFER_VERIFY_RECEIPT_H_
#define DETINFER_VERIFY_RECEIPT_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype_id.h"
#include "core/status.h"
#include "engine/request.h"

namespace detinfer {

// 2 added the request's penalties and min_tokens; a version-1 receipt is read with them at
// their neutral values (which is what its run used).
inline constexpr int kReceiptVersion = 2;

// One finished run, as a receipt records it.
struct ReceiptRun {
  std::string model;  // the path as given (informational: the hash is what is checked)
  uint64_t model_hash = 0;
  uint64_t tokenizer_hash = 0;
  std::string schedule_id;
  DType kv_dtype = DType::kF32;
  Request request;
  RequestResult result;
};

uint64_t ReceiptChainStart(const std::string& schedule_id);
uint64_t ReceiptChainStep(uint64_t previous, int32_t token, float logprob);

nlohmann::json MakeReceipt(const ReceiptRun& run);

// A receipt read back: its run (result.tokens, result.logprobs, result.finish filled) and the
// engine version that wrote it. Errors name the field at fault; a chain that does not match
// the recorded steps is an error naming the first step where it breaks.
struct Receipt {
  ReceiptRun run;
  std::string engine_version;
};
Result<Receipt> ParseReceipt(const nlohmann::json& j);

// A replayed run against its receipt: equal when every step's token and logprob bits and the
// finish reason agree; otherwise the first differing step (or the finish) is named.
struct ReplayComparison {
  bool same = false;
  int64_t steps_checked = 0;
  int64_t first_divergent_step = -1;  // -1: none (or only the finish reason / length differs)
  std::string detail;                 // what differs, for people
};
ReplayComparison CompareReplay(const Receipt& receipt, const RequestResult& replayed);

}  // namespace detinfer

#endif  // DETINFER_VERIFY_RECEIPT_H_
