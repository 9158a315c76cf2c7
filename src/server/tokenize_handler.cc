// POST /tokenize and /detokenize (vLLM's request and response shapes), and the prompt encoding
// every handler shares: the ids a client sees here are exactly the ids a completion or chat
// request with the same input would run.
#include "server/responses.h"
#include "server/server_state.h"

namespace detinfer::server {

namespace {

ApiError Invalid(const std::string& param, const std::string& message) {
  ApiError e;
  e.param = param;
  e.message = message;
  return e;
}

}  // namespace

std::optional<ApiError> CheckModelName(const State& st, const std::string& model) {
  if (model.empty() || model == st.options.model_name) return std::nullopt;
  ApiError e = Invalid("model", "the model '" + model + "' does not exist; this server serves '" +
                                    st.options.model_name + "'");
  e.status = 404;
  e.code = "model_not_found";
  return e;
}

std::optional<ApiError> EncodePrompt(const State& st, const std::string& text,
                                     const std::string& param, bool add_special_tokens,
                                     std::vector<int32_t>* ids) {
  if (st.served.tokenizer == nullptr) {
    return Invalid(param, "this model has no tokenizer: send '" + param + "' as token ids");
  }
  auto enc = st.served.tokenizer->Encode(text, add_special_tokens);
  if (!enc.ok()) return Invalid(param, "'" + param + "': " + enc.status().message());
  *ids = std::move(enc).value();
  return std::nullopt;
}

std::optional<ApiError> ChatPrompt(const State& st, const ChatInput& chat,
                                   std::optional<bool> add_special_tokens, std::string* text,
                                   std::vector<int32_t>* ids) {
  auto rendered = st.chat.Render(chat);
  if (!rendered.ok()) {
    return Invalid("messages", "the chat template (" + std::string(st.chat.name()) +
                                   ") refused the conversation: " + rendered.status().message());
  }
  *text = std::move(rendered).value();
  if (st.served.tokenizer == nullptr) {
    return Invalid("messages", "this model has no tokenizer: send a prompt of token ids to "
                               "/v1/completions");
  }
  auto enc = st.chat.Encode(*st.served.tokenizer, *text, add_special_tokens);
  if (!enc.ok()) return Invalid("messages", "'messages': " + enc.status().message());
  *ids = std::move(enc).value();
  return std::nullopt;
}

void HandleTokenize(State& st, const httplib::Request& http, httplib::Response& res) {
  TokenizeRequest req;
  if (auto e = ParseTokenizeRequest(http.body, st.options.limits, &req)) return SendError(res, *e);
  WarnIgnored(res, req.ignored_fields);
  if (auto e = CheckModelName(st, req.model)) return SendError(res, *e);
  std::vector<int32_t> ids;
  if (req.is_chat) {
    std::string text;
    if (auto e = ChatPrompt(st, req.chat, req.add_special_tokens, &text, &ids)) {
      return SendError(res, *e);
    }
  } else if (auto e = EncodePrompt(st, req.prompt, "prompt", req.add_special_tokens.value_or(true),
                                   &ids)) {
    return SendError(res, *e);
  }
  Json strs = nullptr;
  if (req.return_token_strs) {
    strs = Json::array();
    for (const int32_t id : ids) {
      auto piece = st.served.tokenizer->TokenText(id);
      strs.push_back(piece.ok() ? std::string(*piece) : std::string());
    }
  }
  const Json body = {{"count", ids.size()},
                     {"max_model_len", st.served.model->config().max_seq_len},
                     {"tokens", ids},
                     {"token_strs", strs}};
  res.set_content(Dump(body), "application/json");
}

void HandleDetokenize(State& st, const httplib::Request& http, httplib::Response& res) {
  DetokenizeRequest req;
  if (auto e = ParseDetokenizeRequest(http.body, st.options.limits, &req)) {
    return SendError(res, *e);
  }
  WarnIgnored(res, req.ignored_fields);
  if (auto e = CheckModelName(st, req.model)) return SendError(res, *e);
  if (st.served.tokenizer == nullptr) {
    return SendError(res, Invalid("tokens", "this model has no tokenizer to decode with"));
  }
  auto text = st.served.tokenizer->Decode(req.tokens);
  if (!text.ok()) return SendError(res, Invalid("tokens", "'tokens': " + text.status().message()));
  res.set_content(Dump({{"prompt", *text}}), "application/json");
}

}  // namespace detinfer::server
