// POST /v1/score (our extension): the teacher-forced logprobs of a completion after a prompt,
// bit-identical to those generation reports for the same tokens (SPEC §R1), so that an RL
// trainer can check a rollout by its fingerprint.
#include <ctime>

#include "engine/schedule_id.h"
#include "server/responses.h"
#include "server/server_state.h"

namespace detinfer::server {

namespace {

std::optional<ApiError> Ids(const State& st, const PromptInput& p, const char* param,
                            bool add_bos, std::vector<int32_t>* ids) {
  ApiError e;
  e.param = param;
  if (!p.is_text) {
    *ids = p.ids;
  } else if (auto enc = EncodePrompt(st, p.text, param, add_bos, ids)) {
    return enc;
  }
  const int32_t vocab = static_cast<int32_t>(st.served.model->config().vocab_size);
  for (size_t i = 0; i < ids->size(); ++i) {
    if ((*ids)[i] >= vocab) {
      e.message = std::string("'") + param + "' token " + std::to_string(i) + " has id " +
                  std::to_string((*ids)[i]) + " outside the vocabulary [0, " +
                  std::to_string(vocab) + ")";
      return e;
    }
  }
  if (ids->empty()) {
    e.message = std::string("'") + param + "' is empty (no tokens)";
    return e;
  }
  return std::nullopt;
}

}  // namespace

void HandleScore(State& st, const httplib::Request& http, httplib::Response& res) {
  ScoreRequest req;
  if (auto e = ParseScoreRequest(http.body, st.options.limits, &req)) {
    SendError(res, *e);
    return;
  }
  WarnIgnored(res, req.ignored_fields);
  if (auto e = CheckModelName(st, req.model)) {
    SendError(res, *e);
    return;
  }
  Job job;
  job.kind = Job::Kind::kScore;
  job.request.id = "score-" + std::to_string(st.next_id.fetch_add(1));
  // The completion's text is tokenized on its own (no BOS): to score exactly the tokens a
  // generation produced, send their ids.
  if (auto e = Ids(st, req.prompt, "prompt", true, &job.request.prompt)) {
    SendError(res, *e);
    return;
  }
  if (auto e = Ids(st, req.completion, "completion", false, &job.completion)) {
    SendError(res, *e);
    return;
  }
  const int64_t total = static_cast<int64_t>(job.request.prompt.size() + job.completion.size());
  if (total > st.served.model->config().max_seq_len) {
    ApiError e;
    e.param = "completion";
    e.code = "context_length_exceeded";
    e.message = "prompt and completion have " + std::to_string(total) +
                " tokens, more than the model's context length of " +
                std::to_string(st.served.model->config().max_seq_len);
    SendError(res, e);
    return;
  }
  auto channel = std::make_shared<Channel>();
  job.channel = channel;
  const std::vector<int32_t> prompt = job.request.prompt;
  const EngineLoop::Admission a = st.loop->Enqueue(std::move(job));
  if (a != EngineLoop::Admission::kAccepted) {
    ApiError e;
    e.status = a == EngineLoop::Admission::kFull ? 429 : 503;
    e.type = a == EngineLoop::Admission::kFull ? "rate_limit_error" : "server_error";
    e.code = a == EngineLoop::Admission::kFull ? "queue_full" : "shutting_down";
    e.message = a == EngineLoop::Admission::kFull ? "too many requests queued; retry later"
                                                  : "the server is shutting down";
    if (e.status == 429) res.set_header("Retry-After", "1");
    SendError(res, e);
    return;
  }
  std::vector<StreamToken> ignored;
  std::optional<RequestResult> r;
  while (!channel->Wait(std::chrono::milliseconds(1000), &ignored, &r)) {
  }
  if (!r->status.ok()) {
    SendError(res, EngineError(r->status));
    return;
  }
  double sum = 0.0;  // in order, in double: a summary, not part of the bit contract
  for (const float lp : r->logprobs) sum += double(lp);
  const Json body = {{"id", r->id},
                     {"object", "score"},
                     {"created", static_cast<int64_t>(std::time(nullptr))},
                     {"model", st.options.model_name},
                     {"system_fingerprint", ScheduleIdFor(st, r->weight_version)},
                     {"weight_version", WeightVersionJson(r->weight_version)},
                     {"prompt_token_ids", prompt},
                     {"token_ids", r->tokens},
                     {"token_logprobs", r->logprobs},
                     {"sum_logprob", sum},
                     {"fingerprint", Hex64(r->fingerprint)},
                     {"usage", Usage(static_cast<int64_t>(prompt.size()),
                                     static_cast<int64_t>(r->tokens.size()), 0)}};
  res.set_content(Dump(body), "application/json");
}

}  // namespace detinfer::server
