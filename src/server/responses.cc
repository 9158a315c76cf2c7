#include "server/responses.h"

#include <algorithm>
#include <cmath>

#include "engine/schedule_id.h"
#include "tokenizer/streaming_decoder.h"

namespace detinfer::server {

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json ErrorJson(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? Json(nullptr) : Json(e.param)},
            {"code", e.code.empty() ? Json(nullptr) : Json(e.code)}}}};
}

std::string FinishReasonText(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
    case FinishReason::kContext:
      return "length";
    case FinishReason::kAbort:  // ended by POST /pause_generation {"mode": "abort"}
      return "abort";
    default:
      return "error";
  }
}

std::string TokenString(const Tokenizer* tokenizer, int32_t id, int32_t prev) {
  if (tokenizer == nullptr) return std::to_string(id);
  auto b = tokenizer->TokenBytes(id, prev);
  return b.ok() ? *b : std::string();
}

namespace {

Json Logprob(float lp) { return std::isnan(lp) ? Json(nullptr) : Json(lp); }

Json Bytes(const std::string& s) {
  Json b = Json::array();
  for (const unsigned char c : s) b.push_back(int(c));
  return b;
}

}  // namespace

Json CompletionLogprobs(const Tokenizer* tokenizer, const std::vector<int32_t>& tokens,
                        const std::vector<float>& lps,
                        const std::vector<std::vector<TokenLogprob>>& top, int32_t prev,
                        size_t offset, int32_t top_n, const std::vector<size_t>* text_offsets) {
  Json strs = Json::array(), values = Json::array(), tops = Json::array(),
       offsets = Json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string s = TokenString(tokenizer, tokens[i], prev);
    strs.push_back(s);
    values.push_back(Logprob(lps[i]));
    offsets.push_back(text_offsets != nullptr && i < text_offsets->size() ? (*text_offsets)[i]
                                                                         : offset);
    offset += s.size();
    if (i < top.size() && !top[i].empty()) {
      Json alt = Json::object();
      for (const TokenLogprob& t : top[i]) {
        alt[TokenString(tokenizer, t.token, prev)] = t.logprob;
      }
      tops.push_back(alt);
    } else if (top_n == 0 && !std::isnan(lps[i])) {
      tops.push_back(Json::object());  // no alternatives asked for
    } else {
      tops.push_back(nullptr);  // the first prompt token (echo), or a prompt token's
    }
    prev = tokens[i];
  }
  return {{"tokens", strs},
          {"token_logprobs", values},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

std::vector<size_t> TextOffsets(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                                int32_t prev, size_t start, bool skip_special, size_t text_len) {
  std::vector<size_t> out;
  StreamingDecoder decoder(tokenizer, prev);
  size_t offset = start;
  for (const int32_t id : ids) {
    out.push_back(std::min(offset, text_len));
    if (skip_special && tokenizer.IsSpecial(id)) continue;  // not in the text
    auto piece = decoder.Push(id);
    if (piece.ok()) offset += piece->size();
  }
  return out;
}

Json ChatLogprobs(const Tokenizer* tokenizer, const std::vector<int32_t>& tokens,
                  const std::vector<float>& lps,
                  const std::vector<std::vector<TokenLogprob>>& top, int32_t prev) {
  Json content = Json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string s = TokenString(tokenizer, tokens[i], prev);
    Json alts = Json::array();
    if (i < top.size()) {
      for (const TokenLogprob& t : top[i]) {
        const std::string ts = TokenString(tokenizer, t.token, prev);
        alts.push_back(
            {{"token", ts}, {"token_id", t.token}, {"logprob", t.logprob}, {"bytes", Bytes(ts)}});
      }
    }
    content.push_back({{"token", s},
                       {"token_id", tokens[i]},
                       {"logprob", Logprob(lps[i])},
                       {"bytes", Bytes(s)},
                       {"top_logprobs", alts}});
    prev = tokens[i];
  }
  // OpenAI's schema: the refusal's logprobs beside the content's (we never refuse).
  return {{"content", content}, {"refusal", nullptr}};
}

Json CompletionChoice(const CompletionRequest& req, const Tokenizer* tokenizer, size_t index,
                      const std::vector<int32_t>& prompt, const std::string& prompt_text,
                      const RequestResult& r) {
  Json c = {{"index", index},
            {"text", req.echo ? prompt_text + r.text : r.text},
            {"finish_reason", FinishReasonText(r.finish)}};
  if (req.logprobs) {
    std::vector<int32_t> tokens;
    std::vector<float> lps;
    std::vector<std::vector<TokenLogprob>> top;
    int32_t prev = prompt.empty() ? -1 : prompt.back();
    if (req.echo) {
      // The first prompt token has no logprob (nothing predicts it) and no alternatives.
      tokens = prompt;
      lps.push_back(NAN);
      lps.insert(lps.end(), r.prompt_logprobs.begin(), r.prompt_logprobs.end());
      lps.resize(prompt.size(), NAN);
      // Prompt positions get the alternatives generated ones get (the engine computed at
      // least that many for them); the first has none.
      top.resize(1);
      for (const auto& alts : r.prompt_top_logprobs) {
        top.emplace_back(alts.begin(),
                         alts.begin() + std::min<std::ptrdiff_t>(
                                            req.top_logprobs, static_cast<std::ptrdiff_t>(alts.size())));
      }
      top.resize(prompt.size());
      prev = -1;
    }
    tokens.insert(tokens.end(), r.tokens.begin(), r.tokens.end());
    lps.insert(lps.end(), r.logprobs.begin(), r.logprobs.end());
    top.insert(top.end(), r.top_logprobs.begin(), r.top_logprobs.end());
    std::vector<size_t> offsets;
    if (tokenizer != nullptr) {
      // The prompt's tokens point into the echoed prompt text, the generated ones into what
      // follows it (decoded after the prompt's last token, as the engine decodes them).
      const size_t text_len = c["text"].get_ref<const std::string&>().size();
      const size_t base = req.echo ? prompt_text.size() : 0;
      if (req.echo) {
        offsets = TextOffsets(*tokenizer, prompt, -1, 0, req.skip_special_tokens, base);
      }
      const std::vector<size_t> gen =
          TextOffsets(*tokenizer, r.tokens, prompt.empty() ? -1 : prompt.back(), base,
                      req.skip_special_tokens, text_len);
      offsets.insert(offsets.end(), gen.begin(), gen.end());
    }
    c["logprobs"] = CompletionLogprobs(tokenizer, tokens, lps, top, prev, 0, req.top_logprobs,
                                       tokenizer != nullptr ? &offsets : nullptr);
  } else {
    c["logprobs"] = nullptr;
  }
  c["token_ids"] = r.tokens;
  c["token_logprobs"] = r.logprobs;
  c["token_sampling_logprobs"] = r.sampling_logprobs;
  c["fingerprint"] = Hex64(r.fingerprint);
  if (r.speculative.verify_passes > 0) c["speculative"] = SpeculativeJson(r.speculative);
  if (req.echo || req.return_token_ids) c["prompt_token_ids"] = prompt;
  if (req.prompt_logprobs) c["prompt_logprobs"] = PromptLogprobsJson(tokenizer, prompt, r, *req.prompt_logprobs);
  return c;
}

Json PromptLogprobsJson(const Tokenizer* tokenizer, const std::vector<int32_t>& prompt,
                        const RequestResult& r, int32_t top_n) {
  Json out = Json::array();
  if (prompt.empty()) return out;
  out.push_back(nullptr);
  for (size_t p = 1; p < prompt.size() && p - 1 < r.prompt_logprobs.size(); ++p) {
    const int32_t prev = prompt[p - 1];
    Json entry = Json::object();
    const auto add = [&](int32_t id, float lp, int32_t rank) {
      entry[std::to_string(id)] = {
          {"logprob", lp}, {"rank", rank}, {"decoded_token", TokenString(tokenizer, id, prev)}};
    };
    if (p - 1 < r.prompt_top_logprobs.size()) {
      const auto& alts = r.prompt_top_logprobs[p - 1];
      for (size_t k = 0; k < alts.size() && k < static_cast<size_t>(top_n); ++k) {
        add(alts[k].token, alts[k].logprob, static_cast<int32_t>(k + 1));
      }
    }
    // The prompt token itself, with its own rank (it may also be one of the top ones: the
    // same logprob, and the same rank unless it ties with a lower id).
    add(prompt[p], r.prompt_logprobs[p - 1],
        p - 1 < r.prompt_ranks.size() ? r.prompt_ranks[p - 1] : 0);
    out.push_back(std::move(entry));
  }
  return out;
}

Json ChatChoice(const CompletionRequest& req, const Tokenizer* tokenizer,
                const std::vector<int32_t>& prompt, const RequestResult& r) {
  Json c = {{"index", 0},
            {"message", {{"role", "assistant"}, {"content", r.text}, {"refusal", nullptr}}},
            {"finish_reason", FinishReasonText(r.finish)}};
  c["logprobs"] = req.logprobs ? ChatLogprobs(tokenizer, r.tokens, r.logprobs, r.top_logprobs,
                                              prompt.empty() ? -1 : prompt.back())
                               : Json(nullptr);
  c["token_ids"] = r.tokens;
  c["token_logprobs"] = r.logprobs;
  c["token_sampling_logprobs"] = r.sampling_logprobs;
  c["fingerprint"] = Hex64(r.fingerprint);
  if (r.speculative.verify_passes > 0) c["speculative"] = SpeculativeJson(r.speculative);
  return c;
}

Json Usage(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens,
           const SpeculativeStats& speculative) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}},
          {"completion_tokens_details",
           {{"accepted_prediction_tokens", speculative.accepted},
            {"rejected_prediction_tokens", speculative.proposed - speculative.accepted}}}};
}

Json SpeculativeJson(const SpeculativeStats& s) {
  return {{"verify_passes", s.verify_passes}, {"proposed", s.proposed}, {"accepted", s.accepted}};
}

}  // namespace detinfer::server
