#include "verify/receipt.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/dtype.h"
#include "engine/schedule_id.h"

namespace detinfer {

namespace {

constexpr const char* kReceiptKind = "detinfer run receipt";

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
std::string Hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08" PRIx32, v);
  return buf;
}

// Strict hex of exactly `digits` digits (lower or upper case).
bool ParseHex(const std::string& s, size_t digits, uint64_t* out) {
  if (s.size() != digits) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

Status Bad(const std::string& field, const std::string& what) {
  return Status::InvalidArgument("receipt: " + field + ": " + what);
}

// j[key] as T, or an error naming the field.
template <typename T>
Status Read(const nlohmann::json& j, const std::string& path, const char* key, T* out) {
  const std::string field = path.empty() ? key : path + "." + key;
  if (!j.contains(key)) return Bad(field, "missing");
  const nlohmann::json& v = j.at(key);
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return Bad(field, "must be a string");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return Bad(field, "must be true or false");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) return Bad(field, "must be a number");
  } else {
    if (!v.is_number_integer()) return Bad(field, "must be an integer");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(std::numeric_limits<T>::max())
                               : (v.get<int64_t>() < int64_t(std::numeric_limits<T>::min()) ||
                                  (std::is_signed_v<T> &&
                                   v.get<int64_t>() > int64_t(std::numeric_limits<T>::max())))) {
      return Bad(field, "out of range");
    }
  }
  *out = v.get<T>();
  return Status::Ok();
}

Status ReadHash(const nlohmann::json& j, const char* key, uint64_t* out) {
  std::string s;
  DETINFER_RETURN_IF_ERROR(Read(j, "", key, &s));
  if (!ParseHex(s, 16, out)) return Bad(key, "must be 16 hex digits, got '" + s + "'");
  return Status::Ok();
}

Status ReadIds(const nlohmann::json& j, const std::string& path, const char* key,
               std::vector<int32_t>* out) {
  const std::string field = path + "." + key;
  if (!j.contains(key)) return Bad(field, "missing");
  if (!j.at(key).is_array()) return Bad(field, "must be an array of token ids");
  for (const auto& v : j.at(key)) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return Bad(field, "must hold token ids (integers >= 0), got " + v.dump());
    }
    out->push_back(v.get<int32_t>());
  }
  return Status::Ok();
}

}  // namespace

uint64_t ReceiptChainStart(const std::string& schedule_id) {
  return XXH3_64bits(schedule_id.data(), schedule_id.size());
}

uint64_t ReceiptChainStep(uint64_t previous, int32_t token, float logprob) {
  // Little-endian by construction, whatever the host's byte order.
  unsigned char buf[16];
  const uint32_t t = static_cast<uint32_t>(token), l = FloatBits(logprob);
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<unsigned char>(previous >> (8 * i));
  for (int i = 0; i < 4; ++i) buf[8 + i] = static_cast<unsigned char>(t >> (8 * i));
  for (int i = 0; i < 4; ++i) buf[12 + i] = static_cast<unsigned char>(l >> (8 * i));
  return XXH3_64bits(buf, sizeof buf);
}

nlohmann::json MakeReceipt(const ReceiptRun& run) {
  const Request& q = run.request;
  const RequestResult& r = run.result;
  nlohmann::json steps = nlohmann::json::array();
  uint64_t chain = ReceiptChainStart(run.schedule_id);
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    chain = ReceiptChainStep(chain, r.tokens[i], r.logprobs[i]);
    steps.push_back({{"token", r.tokens[i]},
                     {"logprob", r.logprobs[i]},
                     {"logprob_bits", Hex32(FloatBits(r.logprobs[i]))},
                     {"chain", Hex64(chain)}});
  }
  return {
      {"receipt", kReceiptKind},
      {"version", kReceiptVersion},
      {"engine_version", DETINFER_VERSION},
      {"schedule_id", run.schedule_id},
      {"model", run.model},
      {"model_hash", Hex64(run.model_hash)},
      {"tokenizer_hash", Hex64(run.tokenizer_hash)},
      {"kv_dtype", DTypeName(run.kv_dtype)},
      {"request",
       {{"prompt_ids", q.prompt},
        {"max_tokens", q.max_new_tokens},
        {"stop_ids", q.stop_ids},
        {"stop", q.stop_strings},
        {"temperature", q.sampling.temperature},
        {"top_k", q.sampling.top_k},
        {"top_p", q.sampling.top_p},
        {"min_p", q.sampling.min_p},
        {"seed", q.sampling.seed},
        {"repetition_penalty", q.sampling.penalties.repetition},
        {"presence_penalty", q.sampling.penalties.presence},
        {"frequency_penalty", q.sampling.penalties.frequency},
        {"min_tokens", q.min_tokens}}},
      {"steps", steps},
      {"finish_reason", FinishReasonName(r.finish)},
      {"fingerprint", Hex64(r.fingerprint)},
      {"chain", Hex64(chain)},
  };
}

Result<Receipt> ParseReceipt(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("(top level)", "must be a JSON object");
  Receipt out;
  ReceiptRun& run = out.run;
  std::string kind;
  DETINFER_RETURN_IF_ERROR(Read(j, "", "receipt", &kind));
  if (kind != kReceiptKind) return Bad("receipt", "must be \"" + std::string(kReceiptKind) + "\"");
  int version = 0;
  DETINFER_RETURN_IF_ERROR(Read(j, "", "version", &version));
  if (version != kReceiptVersion && version != 1) {
    return Bad("version", std::to_string(version) + " is not a version this build reads (" +
                              std::to_string(kReceiptVersion) + ")");
  }
  DETINFER_RETURN_IF_ERROR(Read(j, "", "engine_version", &out.engine_version));
  DETINFER_RETURN_IF_ERROR(Read(j, "", "schedule_id", &run.schedule_id));
  DETINFER_RETURN_IF_ERROR(Read(j, "", "model", &run.model));
  DETINFER_RETURN_IF_ERROR(ReadHash(j, "model_hash", &run.model_hash));
  DETINFER_RETURN_IF_ERROR(ReadHash(j, "tokenizer_hash", &run.tokenizer_hash));
  std::string kv;
  DETINFER_RETURN_IF_ERROR(Read(j, "", "kv_dtype", &kv));
  auto kv_dtype = ParseDType(kv);
  if (!kv_dtype.ok()) return Bad("kv_dtype", "unknown dtype '" + kv + "'");
  run.kv_dtype = *kv_dtype;

  if (!j.contains("request") || !j.at("request").is_object()) return Bad("request", "missing");
  const nlohmann::json& q = j.at("request");
  Request& r = run.request;
  DETINFER_RETURN_IF_ERROR(ReadIds(q, "request", "prompt_ids", &r.prompt));
  if (r.prompt.empty()) return Bad("request.prompt_ids", "must not be empty");
  DETINFER_RETURN_IF_ERROR(Read(q, "request", "max_tokens", &r.max_new_tokens));
  DETINFER_RETURN_IF_ERROR(ReadIds(q, "request", "stop_ids", &r.stop_ids));
  if (!q.contains("stop") || !q.at("stop").is_array()) return Bad("request.stop", "missing");
  for (const auto& s : q.at("stop")) {
    if (!s.is_string()) return Bad("request.stop", "must hold strings");
    r.stop_strings.push_back(s.get<std::string>());
  }
  DETINFER_RETURN_IF_ERROR(Read(q, "request", "temperature", &r.sampling.temperature));
  DETINFER_RETURN_IF_ERROR(Read(q, "request", "top_k", &r.sampling.top_k));
  DETINFER_RETURN_IF_ERROR(Read(q, "request", "top_p", &r.sampling.top_p));
  DETINFER_RETURN_IF_ERROR(Read(q, "request", "min_p", &r.sampling.min_p));
  DETINFER_RETURN_IF_ERROR(Read(q, "request", "seed", &r.sampling.seed));
  if (version >= 2) {
    DETINFER_RETURN_IF_ERROR(
        Read(q, "request", "repetition_penalty", &r.sampling.penalties.repetition));
    DETINFER_RETURN_IF_ERROR(Read(q, "request", "presence_penalty", &r.sampling.penalties.presence));
    DETINFER_RETURN_IF_ERROR(
        Read(q, "request", "frequency_penalty", &r.sampling.penalties.frequency));
    DETINFER_RETURN_IF_ERROR(Read(q, "request", "min_tokens", &r.min_tokens));
  }

  if (!j.contains("steps") || !j.at("steps").is_array()) return Bad("steps", "missing");
  uint64_t chain = ReceiptChainStart(run.schedule_id);
  int64_t i = 0;
  for (const auto& s : j.at("steps")) {
    const std::string path = "steps[" + std::to_string(i) + "]";
    if (!s.is_object()) return Bad(path, "must be an object");
    int32_t token = 0;
    std::string bits_hex, chain_hex;
    DETINFER_RETURN_IF_ERROR(Read(s, path, "token", &token));
    DETINFER_RETURN_IF_ERROR(Read(s, path, "logprob_bits", &bits_hex));
    DETINFER_RETURN_IF_ERROR(Read(s, path, "chain", &chain_hex));
    uint64_t bits = 0, recorded = 0;
    if (!ParseHex(bits_hex, 8, &bits)) return Bad(path + ".logprob_bits", "must be 8 hex digits");
    if (!ParseHex(chain_hex, 16, &recorded)) return Bad(path + ".chain", "must be 16 hex digits");
    // The exact bits are the record; the decimal "logprob" beside them is for people.
    const float logprob = BitsFloat(static_cast<uint32_t>(bits));
    chain = ReceiptChainStep(chain, token, logprob);
    if (chain != recorded) {
      return Status::InvalidArgument("receipt: step " + std::to_string(i) +
                              " does not match its hash chain (the receipt was changed after "
                              "the run, at or before this step's token or logprob)");
    }
    run.result.tokens.push_back(token);
    run.result.logprobs.push_back(logprob);
    ++i;
  }
  uint64_t final_chain = 0;
  DETINFER_RETURN_IF_ERROR(ReadHash(j, "chain", &final_chain));
  if (final_chain != chain) {
    return Status::InvalidArgument("receipt: chain does not match the last step's (steps were removed "
                            "or added after the run)");
  }
  std::string finish;
  DETINFER_RETURN_IF_ERROR(Read(j, "", "finish_reason", &finish));
  for (FinishReason f : {FinishReason::kLength, FinishReason::kStop, FinishReason::kContext}) {
    if (finish == FinishReasonName(f)) run.result.finish = f;
  }
  if (run.result.finish == FinishReason::kNone) {
    return Bad("finish_reason", "must be length, stop or context, got '" + finish + "'");
  }
  run.result.fingerprint = Fingerprint(run.result.tokens, run.result.logprobs);
  return out;
}

ReplayComparison CompareReplay(const Receipt& receipt, const RequestResult& replayed) {
  ReplayComparison c;
  const RequestResult& want = receipt.run.result;
  const size_t n = std::min(want.tokens.size(), replayed.tokens.size());
  for (size_t i = 0; i < n; ++i) {
    ++c.steps_checked;
    const bool token_same = want.tokens[i] == replayed.tokens[i];
    const bool bits_same = FloatBits(want.logprobs[i]) == FloatBits(replayed.logprobs[i]);
    if (token_same && bits_same) continue;
    c.first_divergent_step = static_cast<int64_t>(i);
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "step %zu: the receipt has token %d with logprob %.9g (bits %s), the replay "
                  "token %d with logprob %.9g (bits %s)",
                  i, want.tokens[i], static_cast<double>(want.logprobs[i]),
                  Hex32(FloatBits(want.logprobs[i])).c_str(), replayed.tokens[i],
                  static_cast<double>(replayed.logprobs[i]),
                  Hex32(FloatBits(replayed.logprobs[i])).c_str());
    c.detail = buf;
    return c;
  }
  if (want.tokens.size() != replayed.tokens.size()) {
    c.first_divergent_step = static_cast<int64_t>(n);
    c.detail = "the receipt has " + std::to_string(want.tokens.size()) + " steps, the replay " +
               std::to_string(replayed.tokens.size());
    return c;
  }
  if (want.finish != replayed.finish) {
    c.detail = "finish reason: the receipt says " + std::string(FinishReasonName(want.finish)) +
               ", the replay " + std::string(FinishReasonName(replayed.finish));
    return c;
  }
  c.same = true;
  return c;
}

}  // namespace detinfer
