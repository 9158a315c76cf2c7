// JSON bodies of the OpenAI-shaped responses, built from engine results. Pure functions.
//
// Besides the OpenAI fields, every choice carries what RL clients need without re-tokenising:
// "token_ids", "token_logprobs" (raw, temperature-1 logprobs, bit-exact: a JSON number parsed
// as a double narrows back to the same float) and "fingerprint" (engine/request.h).
#ifndef DETINFER_SERVER_RESPONSES_H_
#define DETINFER_SERVER_RESPONSES_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/api_request.h"
#include "tokenizer/tokenizer.h"

namespace detinfer::server {

using Json = nlohmann::json;

// Serialises with invalid UTF-8 replaced by U+FFFD (a token may end inside a character).
std::string Dump(const Json& j);
Json ErrorJson(const ApiError& e);
// "stop", "length" (the max_tokens limit or the end of the context), "abort" (a pause in
// abort mode ended it), "error".
std::string FinishReasonText(FinishReason reason);
// A token as text: its bytes when there is a tokenizer, else its id in decimal.
std::string TokenString(const Tokenizer* tokenizer, int32_t id, int32_t prev);

// OpenAI completions "logprobs" of `tokens` (prev = the token before the first, -1 if none),
// text offsets counted from `offset`. `lps[i]` may be NaN for "no logprob" (null). `top_n` is
// the request's `logprobs` (alternatives per token): with 0, as OpenAI, `top_logprobs` still
// has one entry per token, an empty object (null for a token without a logprob).
Json CompletionLogprobs(const Tokenizer* tokenizer, const std::vector<int32_t>& tokens,
                        const std::vector<float>& lps,
                        const std::vector<std::vector<TokenLogprob>>& top, int32_t prev,
                        size_t offset, int32_t top_n,
                        const std::vector<size_t>* text_offsets = nullptr);
// Where each of `ids` starts in the text a StreamingDecoder makes of them (after `prev`, from
// byte `start`), leaving out skipped special tokens as the answer's text does, each clamped to
// `text_len` (a stop string cuts the text). So text_offset points into `text` even where a
// token's own string differs from what it adds to the text (a BOS, SentencePiece's leading
// space at the start).
std::vector<size_t> TextOffsets(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                                int32_t prev, size_t start, bool skip_special, size_t text_len);
// Chat "logprobs": {"content": [{token, token_id, logprob, bytes, top_logprobs}]}.
Json ChatLogprobs(const Tokenizer* tokenizer, const std::vector<int32_t>& tokens,
                  const std::vector<float>& lps,
                  const std::vector<std::vector<TokenLogprob>>& top, int32_t prev);

// vLLM's "prompt_logprobs": null for the first prompt token (nothing predicts it), then per
// position an object keyed by token id: the prompt token {logprob, rank, decoded_token} and the
// row's `top_n` most likely tokens (ranks 1..top_n). Needs the result's prompt logprobs.
Json PromptLogprobsJson(const Tokenizer* tokenizer, const std::vector<int32_t>& prompt,
                        const RequestResult& r, int32_t top_n);

// One choice of a finished request. `prompt`/`prompt_text` are used for echo.
Json CompletionChoice(const CompletionRequest& req, const Tokenizer* tokenizer, size_t index,
                      const std::vector<int32_t>& prompt, const std::string& prompt_text,
                      const RequestResult& r);
Json ChatChoice(const CompletionRequest& req, const Tokenizer* tokenizer,
                const std::vector<int32_t>& prompt, const RequestResult& r);

// OpenAI's usage object. Speculative decoding's guesses are reported as OpenAI reports predicted
// outputs: completion_tokens_details.accepted_prediction_tokens / rejected_prediction_tokens.
Json Usage(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens,
           const SpeculativeStats& speculative = {});
// A finished request's speculative counts ({"verify_passes", "proposed", "accepted"}).
Json SpeculativeJson(const SpeculativeStats& s);

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_RESPONSES_H_
