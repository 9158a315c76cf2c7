// POST /v1/completions and /v1/chat/completions: parse, tokenize, check against the model,
// queue on the engine loop, then answer at once (JSON) or token by token (Server-Sent Events).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>

#include "detinfer/engine.h"
#include "engine/sample_group.h"
#include "engine/sampler.h"
#include "engine/schedule_id.h"
#include "server/responses.h"
#include "server/server_state.h"
#include "verify/receipt.h"

namespace detinfer::server {

namespace {

ApiError Invalid(const std::string& param, const std::string& message,
                 const std::string& code = "") {
  ApiError e;
  e.param = param;
  e.message = message;
  e.code = code;
  return e;
}

static_assert(ParseLimits{}.max_samples == kMaxSamplesPerPrompt,
              "the server's `n` limit is the engine's samples-per-prompt limit");

// One choice: a prompt, tokenized and turned into an engine request (sample `sample` of it).
struct Prepared {
  Request request;
  std::string prompt_text;  // for echo
  std::shared_ptr<Channel> channel;
  std::shared_ptr<SampleGroupLink> group;  // with n > 1: the prompt's samples
  int32_t sample = 0;
  std::shared_ptr<Doorbell> bell;  // streaming: rung by every choice's channel
  // max_tokens 0 with echo: the engine runs one token (it always samples one) that the answer
  // leaves out, so the choice is the prompt and its logprobs alone.
  bool echo_only = false;
};

// The answer of an echo-only choice: what the prompt gave, no generated token.
void DropGenerated(RequestResult& r) {
  r.tokens.clear();
  r.logprobs.clear();
  r.sampling_logprobs.clear();
  r.top_logprobs.clear();
  r.text.clear();
  r.finish = FinishReason::kLength;
  r.fingerprint = Fingerprint(r.tokens, r.logprobs);
}

std::optional<ApiError> Tokenize(const State& st, const PromptInput& p, const std::string& param,
                                 std::vector<int32_t>* ids) {
  if (!p.is_text) {
    *ids = p.ids;
    return std::nullopt;
  }
  return EncodePrompt(st, p.text, param, /*add_special_tokens=*/true, ids);
}

std::optional<ApiError> Prepare(State& st, const CompletionRequest& req,
                                std::vector<Prepared>* out) {
  const ModelConfig& c = st.served.model->config();
  const Tokenizer* tok = st.served.tokenizer;
  if (auto e = CheckModelName(st, req.model)) return e;
  if (!req.stop.empty() && tok == nullptr) {
    return Invalid("stop", "stop strings need a tokenizer; use 'stop_token_ids'");
  }
  if (req.receipt && !st.served.schedule_inputs) {
    return Invalid("receipt", "this server cannot write run receipts: it was started without "
                              "the model's content hashes");
  }
  SamplingParams sp{req.temperature, req.top_k, req.top_p, req.min_p, req.seed,
                    {req.repetition_penalty, req.frequency_penalty, req.presence_penalty}};
  const Status sv = ValidateSamplingParams(sp);
  if (!sv.ok()) return Invalid("", sv.message());

  std::vector<PromptInput> prompts = req.prompts;
  const bool chat = req.kind == ApiKind::kChat;
  std::vector<int32_t> chat_ids;
  if (chat) {
    PromptInput p;
    p.is_text = true;
    if (auto e = ChatPrompt(st, req.chat, std::nullopt, &p.text, &chat_ids)) {
      return e;
    }
    prompts = {p};
  }
  // Every choice is a job: more than the loop can ever hold would only ever get a 429.
  const int64_t queue_room = st.options.loop.max_running + st.options.loop.max_queued;
  if (static_cast<int64_t>(req.n) * static_cast<int64_t>(prompts.size()) > queue_room) {
    return Invalid("n", "'n' (" + std::to_string(req.n) + ") times the " +
                            std::to_string(prompts.size()) +
                            " prompt(s) asks for more choices than the server runs or queues at "
                            "once (" + std::to_string(queue_room) +
                            ", --max-concurrency + --max-queue)");
  }
  const uint64_t serial = st.next_id.fetch_add(1);
  // One bell for the whole response: its stream waits on every choice of every prompt.
  const std::shared_ptr<Doorbell> bell = req.stream ? std::make_shared<Doorbell>() : nullptr;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string param =
        chat ? "messages" : prompts.size() > 1 ? "prompt[" + std::to_string(i) + "]" : "prompt";
    Prepared p;
    Request& r = p.request;
    if (chat) {
      r.prompt = chat_ids;
    } else if (auto e = Tokenize(st, prompts[i], param, &r.prompt)) {
      return e;
    }
    if (auto e = CheckPromptIds(st, r.prompt, param)) return e;
    const int64_t prompt_len = static_cast<int64_t>(r.prompt.size());
    const int64_t room = c.max_seq_len - prompt_len;
    // The engine's whole KV cache: a request that would outgrow it even alone can never finish.
    const int64_t capacity =
        st.engine->cache().num_blocks() * st.engine->cache().config().block_size;
    if (req.max_tokens && *req.max_tokens == 0) {  // echo only (api_request.cc checked)
      r.max_new_tokens = 1;
      p.echo_only = true;
    } else if (req.max_tokens) {
      if (*req.max_tokens > room) {
        return Invalid("max_tokens",
                       "the prompt (" + std::to_string(r.prompt.size()) + " tokens) plus " +
                           "max_tokens (" + std::to_string(*req.max_tokens) +
                           ") exceed the model's context length of " +
                           std::to_string(c.max_seq_len),
                       "context_length_exceeded");
      }
      // Refused now with a 400, rather than accepted and failed with a 503 (which a client
      // would retry) once it outgrows the cache.
      if (*req.max_tokens > capacity - prompt_len) {
        std::string m = "the prompt (";
        m += std::to_string(prompt_len);
        m += " tokens) plus max_tokens (";
        m += std::to_string(*req.max_tokens);
        m += ") exceed the server's KV capacity of ";
        m += std::to_string(capacity);
        m += " tokens (--kv-capacity); at most ";
        m += std::to_string(capacity - prompt_len);
        m += " new tokens fit after this prompt";
        return Invalid("max_tokens", m, "context_length_exceeded");
      }
      r.max_new_tokens = *req.max_tokens;
    } else {
      // The default: 16 for completions, the rest of the context for chat; within the KV
      // capacity either way.
      const int64_t fits = std::min(room, capacity - prompt_len);
      r.max_new_tokens = static_cast<int32_t>(
          std::max<int64_t>(1, chat ? fits : std::min<int64_t>(16, fits)));
    }
    if (req.min_tokens > r.max_new_tokens) {
      return Invalid("min_tokens", "'min_tokens' (" + std::to_string(req.min_tokens) +
                                       ") is more than max_tokens (" +
                                       std::to_string(r.max_new_tokens) + ")");
    }
    r.min_tokens = req.min_tokens;
    r.id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(serial);
    if (prompts.size() > 1) r.id += "-" + std::to_string(i);
    r.sampling = sp;
    r.stop_strings = req.stop;
    r.skip_special_tokens = req.skip_special_tokens;
    r.stop_ids = req.stop_token_ids;
    for (const int32_t id : r.stop_ids) {
      if (id >= c.vocab_size) {
        return Invalid("stop_token_ids", "'stop_token_ids' has id " + std::to_string(id) +
                                             " outside the vocabulary");
      }
    }
    AddEosStop(tok, req.ignore_eos, &r);  // as the CLI and the Python package do
    if (chat) {
      const std::vector<int32_t>& end = st.chat.end_of_turn_ids();
      for (const int32_t id : end) {
        // Only ids the model can produce (a generation_config.json may list more).
        if (id < c.vocab_size) r.stop_ids.push_back(id);
      }
    }
    r.top_logprobs = req.top_logprobs;
    r.prompt_logprobs = (req.echo && req.logprobs) || req.prompt_logprobs.has_value();
    r.prompt_top_logprobs = std::max(req.echo && req.logprobs ? req.top_logprobs : 0,
                                     req.prompt_logprobs.value_or(0));
    if (req.echo) {
      if (prompts[i].is_text) {
        p.prompt_text = prompts[i].text;
      } else if (tok != nullptr) {
        auto text = tok->Decode(r.prompt);
        if (text.ok()) p.prompt_text = *text;
      }
    }
    // Choice i * n + k is sample k of prompt i (OpenAI's order), seeded as the engine derives it.
    if (req.n > 1) p.group = std::make_shared<SampleGroupLink>();
    p.bell = bell;
    for (int32_t k = 0; k < req.n; ++k) {
      Prepared sample = p;
      sample.request = SampleOf(p.request, k);
      sample.sample = k;
      sample.channel = std::make_shared<Channel>(req.stream, p.bell);
      out->push_back(std::move(sample));
    }
  }
  return std::nullopt;
}

// Queues every prepared request, or none: 429 when the queue is full, 503 when stopping.
std::optional<ApiError> Enqueue(State& st, std::vector<Prepared>& prepared, Job::Kind kind,
                                const std::vector<std::vector<int32_t>>& completions,
                                httplib::Response& res) {
  const auto arrival = Clock::now();
  for (size_t i = 0; i < prepared.size(); ++i) {
    Job job;
    job.kind = kind;
    job.request = prepared[i].request;
    if (kind == Job::Kind::kScore) job.completion = completions[i];
    job.channel = prepared[i].channel;
    job.group = prepared[i].group;
    job.sample = prepared[i].sample;
    job.arrival = arrival;
    const EngineLoop::Admission a = st.loop->Enqueue(std::move(job));
    if (a == EngineLoop::Admission::kAccepted) continue;
    for (size_t k = 0; k < i; ++k) prepared[k].channel->Cancel();
    return RefusedJob(st, a, res);
  }
  return std::nullopt;
}

RequestResult WaitResult(Channel& ch) {
  std::vector<StreamToken> ignored;
  std::optional<RequestResult> r;
  while (!ch.Wait(std::chrono::milliseconds(1000), &ignored, &r)) ignored.clear();
  return std::move(*r);
}

// `version`: the weights the response's results were computed under (a streamed chunk: those
// served when it is sent), whose schedule id is the system_fingerprint.
Json Envelope(const State& st, const CompletionRequest& req, const std::string& id, bool chunk,
              const WeightVersion& version) {
  const bool chat = req.kind == ApiKind::kChat;
  return {{"id", id},
          {"object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                          : "text_completion"},
          {"created", static_cast<int64_t>(std::time(nullptr))},
          {"model", st.options.model_name},
          {"system_fingerprint", ScheduleIdFor(st, version)}};
}

// The run receipt of a choice (docs/receipts.md): what `detinfer replay` needs to re-run it
// anywhere and check every step. null for a choice computed (even in part) on weights updated
// since the server started: a receipt names the model file's content hash, which those weights
// no longer are.
Json ChoiceReceipt(const State& st, const Request& request, const RequestResult& r) {
  if (r.weight_version.counter != 0 || r.mixed_weights) return nullptr;
  const ScheduleInputs& in = *st.served.schedule_inputs;  // checked in Prepare
  return MakeReceipt({st.options.model_name, in.model_hash, in.tokenizer_hash,
                      st.served.schedule_id, in.kv_dtype, request, r});
}

// What RL clients need to know of the weights behind a choice (docs/rl.md).
void AddWeightVersion(Json& choice, const RequestResult& r) {
  choice["weight_version"] = WeightVersionJson(r.weight_version);
  if (r.mixed_weights) choice["mixed_weights"] = true;
}

void Respond(State& st, const CompletionRequest& req, std::vector<Prepared>& prepared,
             httplib::Response& res) {
  Json choices = Json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0, cached = 0;
  SpeculativeStats speculative;
  WeightVersion newest;  // of the choices' weights: the response's system_fingerprint
  Json chat_prompt_logprobs;
  for (size_t i = 0; i < prepared.size(); ++i) {
    RequestResult r = WaitResult(*prepared[i].channel);
    if (r.status.ok() && prepared[i].echo_only) DropGenerated(r);
    if (!r.status.ok()) {
      for (size_t k = i + 1; k < prepared.size(); ++k) prepared[k].channel->Cancel();
      SendError(res, EngineError(r.status));
      return;
    }
    const std::vector<int32_t>& prompt = prepared[i].request.prompt;
    if (i == 0 && req.kind == ApiKind::kChat && req.prompt_logprobs) {
      // One prompt for every sample: at the response's top level, as vLLM has it.
      chat_prompt_logprobs = PromptLogprobsJson(st.served.tokenizer, prompt, r, *req.prompt_logprobs);
    }
    choices.push_back(req.kind == ApiKind::kChat
                          ? ChatChoice(req, st.served.tokenizer, prompt, r)
                          : CompletionChoice(req, st.served.tokenizer, i, prompt,
                                             prepared[i].prompt_text, r));
    choices.back()["index"] = i;
    AddWeightVersion(choices.back(), r);
    if (req.receipt) choices.back()["receipt"] = ChoiceReceipt(st, prepared[i].request, r);
    if (i == 0 || r.weight_version.counter > newest.counter) newest = r.weight_version;
    // As OpenAI counts: a prompt once, however many samples it has (its other samples' reuse of
    // its K/V is the server's business).
    if (prepared[i].sample == 0) {
      prompt_tokens += static_cast<int64_t>(prompt.size());
      cached += r.cached_tokens;
    }
    completion_tokens += static_cast<int64_t>(r.tokens.size());
    speculative.verify_passes += r.speculative.verify_passes;
    speculative.proposed += r.speculative.proposed;
    speculative.accepted += r.speculative.accepted;
  }
  Json body = Envelope(st, req, prepared[0].request.id, false, newest);
  body["choices"] = choices;
  body["weight_version"] = WeightVersionJson(newest);
  if (req.kind == ApiKind::kChat && req.return_token_ids) {
    body["prompt_token_ids"] = prepared[0].request.prompt;
  }
  if (!chat_prompt_logprobs.is_null()) body["prompt_logprobs"] = chat_prompt_logprobs;
  body["usage"] = Usage(prompt_tokens, completion_tokens, cached, speculative);
  res.set_content(Dump(body), "application/json");
}

// One choice of a Server-Sent Events response.
struct StreamChoice {
  Prepared prepared;
  size_t sent = 0;    // bytes of text sent
  int32_t prev = -1;  // the token before the next one (for token strings)
  bool role_sent = false;
  bool prompt_ids_sent = false;
  bool echoed = false;
  size_t echoed_bytes = 0;  // the prompt text echoed first: where the generated text starts
  std::optional<RequestResult> result;  // once it finished
};

// The state of one Server-Sent Events response (its choices: n samples of each prompt, in
// OpenAI's order),
// shared by the content provider and the releaser that cancels the requests if the client goes
// away.
struct Stream {
  State* st;
  CompletionRequest req;
  std::vector<StreamChoice> choices;
  std::shared_ptr<Doorbell> bell;  // rung when any choice's channel gets something

  const std::string& id() const { return choices[0].prepared.request.id; }

  Json Chunk(size_t index, const std::string& delta, const std::vector<StreamToken>& toks) {
    StreamChoice& c = choices[index];
    const bool chat = req.kind == ApiKind::kChat;
    Json choice = {{"index", index}, {"finish_reason", nullptr}};
    // The prompt's ids come once, with the first chunk.
    const bool send_prompt_ids = req.return_token_ids && !c.prompt_ids_sent;
    c.prompt_ids_sent = true;
    if (send_prompt_ids && !chat) choice["prompt_token_ids"] = c.prepared.request.prompt;
    if (chat) {
      Json d = Json::object();
      if (!c.role_sent) d["role"] = "assistant";
      c.role_sent = true;
      d["content"] = delta;
      choice["delta"] = d;
    } else {
      choice["text"] = delta;
    }
    std::vector<int32_t> ids;
    std::vector<float> lps, sampling_lps;
    std::vector<std::vector<TokenLogprob>> top;
    for (const StreamToken& t : toks) {
      ids.push_back(t.token);
      lps.push_back(t.logprob);
      sampling_lps.push_back(t.sampling_logprob);
      top.push_back(t.top);
    }
    if (req.logprobs && !ids.empty()) {
      // Each token's offset is where its decoded text starts, as the answer without streaming
      // says (TextOffsets), whether this chunk carries one token or several (under load, tokens
      // wait and come together): not the sum of token strings, whose bytes differ from the text's.
      std::vector<size_t> offsets;
      if (!chat && st->served.tokenizer != nullptr) {
        offsets = TextOffsets(*st->served.tokenizer, ids, c.prev, c.echoed_bytes + c.sent,
                              req.skip_special_tokens, std::numeric_limits<size_t>::max());
      }
      choice["logprobs"] =
          chat ? ChatLogprobs(st->served.tokenizer, ids, lps, top, c.prev)
               : CompletionLogprobs(st->served.tokenizer, ids, lps, top, c.prev,
                                    c.echoed_bytes + c.sent, req.top_logprobs,
                                    offsets.empty() ? nullptr : &offsets);
    } else {
      choice["logprobs"] = nullptr;
    }
    choice["token_ids"] = ids;
    choice["token_logprobs"] = lps;
    choice["token_sampling_logprobs"] = sampling_lps;
    if (!ids.empty()) c.prev = ids.back();
    Json j = Envelope(*st, req, id(), true, st->loop->weight_version());
    j["choices"] = Json::array({choice});
    if (send_prompt_ids && chat) j["prompt_token_ids"] = c.prepared.request.prompt;
    // OpenAI: with include_usage, every chunk but the last (the usage chunk) has "usage": null.
    if (req.include_usage) j["usage"] = nullptr;
    return j;
  }
};

bool WriteEvent(httplib::DataSink& sink, const std::string& data) {
  const std::string event = "data: " + data + "\n\n";
  return sink.write(event.data(), event.size());
}

// One event for the tokens of choice `index` that arrived since its last one. Their text is what
// the engine made final (the text held back for an unfinished character or a possible stop
// string comes with a later token), so the deltas concatenate to the non-streamed text.
bool StreamTokens(Stream& s, size_t index, httplib::DataSink& sink,
                  const std::vector<StreamToken>& toks) {
  std::string delta;
  for (const StreamToken& t : toks) delta += t.text;
  const Json chunk = s.Chunk(index, delta, toks);
  s.choices[index].sent += delta.size();
  return WriteEvent(sink, Dump(chunk));
}

// Choice `index` finished well: its last chunk, with its finish reason and fingerprint.
bool StreamChoiceEnd(Stream& s, size_t index, httplib::DataSink& sink) {
  StreamChoice& c = s.choices[index];
  const RequestResult& r = *c.result;
  // The last token's event carried the rest of the text, so `rest` is normally empty; it is
  // kept for a result whose text is longer than what the events gave.
  const std::string rest = r.text.size() > c.sent ? r.text.substr(c.sent) : std::string();
  Json chunk = s.Chunk(index, rest, {});
  Json& choice = chunk["choices"][0];
  if (s.req.kind == ApiKind::kChat && rest.empty()) choice["delta"] = Json::object();
  choice["finish_reason"] = FinishReasonText(r.finish);
  choice["fingerprint"] = Hex64(r.fingerprint);
  if (r.speculative.verify_passes > 0) choice["speculative"] = SpeculativeJson(r.speculative);
  AddWeightVersion(choice, r);
  if (s.req.receipt) choice["receipt"] = ChoiceReceipt(*s.st, c.prepared.request, r);
  chunk["system_fingerprint"] = ScheduleIdFor(*s.st, r.weight_version);
  return WriteEvent(sink, Dump(chunk));
}

// Every choice finished well: the usage chunk (each prompt counted once) and [DONE].
bool StreamEnd(Stream& s, httplib::DataSink& sink) {
  if (s.req.include_usage) {
    int64_t completion_tokens = 0;
    SpeculativeStats speculative;
    int64_t prompt_tokens = 0, cached = 0;
    for (const StreamChoice& c : s.choices) {
      // As the whole response counts them: each prompt once, however many samples it has.
      if (c.prepared.sample == 0) {
        prompt_tokens += static_cast<int64_t>(c.prepared.request.prompt.size());
        cached += c.result->cached_tokens;
      }
      completion_tokens += static_cast<int64_t>(c.result->tokens.size());
      speculative.verify_passes += c.result->speculative.verify_passes;
      speculative.proposed += c.result->speculative.proposed;
      speculative.accepted += c.result->speculative.accepted;
    }
    Json usage = Envelope(*s.st, s.req, s.id(), true, s.choices[0].result->weight_version);
    usage["choices"] = Json::array();
    usage["usage"] = Usage(prompt_tokens, completion_tokens, cached, speculative);
    if (!WriteEvent(sink, Dump(usage))) return false;
  }
  if (!WriteEvent(sink, "[DONE]")) return false;
  sink.done();
  return true;
}

// A choice failed: the error event, the other choices dropped, [DONE].
bool StreamFailed(Stream& s, const RequestResult& r, httplib::DataSink& sink) {
  for (StreamChoice& c : s.choices) c.prepared.channel->Cancel();
  const ApiError e = EngineError(r.status);
  if (!WriteEvent(sink, Dump(ErrorJson(e)))) return false;
  if (!WriteEvent(sink, "[DONE]")) return false;
  sink.done();
  return true;
}

void StartStream(State& st, const CompletionRequest& req, std::vector<Prepared> prepared,
                 httplib::Response& res) {
  auto s = std::make_shared<Stream>();
  s->st = &st;
  s->req = req;
  s->bell = prepared[0].bell;
  for (Prepared& p : prepared) {
    StreamChoice c;
    c.prev = p.request.prompt.back();
    c.prepared = std::move(p);
    s->choices.push_back(std::move(c));
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [s](size_t, httplib::DataSink& sink) {
        for (size_t i = 0; i < s->choices.size(); ++i) {
          StreamChoice& c = s->choices[i];
          if (s->req.echo && !c.echoed && !c.prepared.prompt_text.empty()) {
            Json chunk = s->Chunk(i, c.prepared.prompt_text, {});
            if (!WriteEvent(sink, Dump(chunk))) return false;
            c.echoed_bytes = c.prepared.prompt_text.size();
          }
          c.echoed = true;
        }
        for (;;) {
          // Each choice's news in choice order; then, if none had any, wait for the bell.
          bool news = false, all_done = true;
          for (size_t i = 0; i < s->choices.size(); ++i) {
            StreamChoice& c = s->choices[i];
            if (c.result) continue;
            std::vector<StreamToken> toks;
            std::optional<RequestResult> result;
            const bool done =
                c.prepared.channel->Wait(std::chrono::milliseconds(0), &toks, &result);
            news = news || !toks.empty() || done;
            if (!toks.empty() && !StreamTokens(*s, i, sink, toks)) return false;
            if (done) {
              if (!result->status.ok()) return StreamFailed(*s, *result, sink);
              c.result = std::move(result);
              if (!StreamChoiceEnd(*s, i, sink)) return false;
            } else {
              all_done = false;
            }
          }
          if (all_done) return StreamEnd(*s, sink);
          if (news) continue;
          s->bell->Wait(std::chrono::milliseconds(50));
          // Nothing to send: notice a client that has gone while its requests wait or run.
          if (!sink.is_writable()) return false;
        }
      },
      [s](bool success) {
        // The client went away (or a write failed): the engine drops the requests and frees
        // their KV blocks; no other request notices.
        if (!success) {
          for (StreamChoice& c : s->choices) c.prepared.channel->Cancel();
        }
      });
}

}  // namespace

// The checks Engine::Submit makes, done here so that a streaming request fails with a status
// code before its 200 header is sent.
std::optional<ApiError> CheckPromptIds(const State& st, const std::vector<int32_t>& ids,
                                       const std::string& param) {
  const ModelConfig& c = st.served.model->config();
  if (ids.empty()) return Invalid(param, "'" + param + "' is empty (no tokens)");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= c.vocab_size) {
      return Invalid(param, "'" + param + "' token " + std::to_string(i) + " has id " +
                                std::to_string(ids[i]) + " outside the vocabulary [0, " +
                                std::to_string(c.vocab_size) + ")");
    }
  }
  if (static_cast<int64_t>(ids.size()) > c.max_seq_len) {
    return Invalid(param,
                   "'" + param + "' has " + std::to_string(ids.size()) +
                       " tokens, more than the model's context length of " +
                       std::to_string(c.max_seq_len),
                   "context_length_exceeded");
  }
  const int64_t block = st.engine->cache().config().block_size;
  const int64_t capacity = st.engine->cache().num_blocks() * block;
  if (static_cast<int64_t>(ids.size()) > capacity) {
    return Invalid(param, "'" + param + "' has " + std::to_string(ids.size()) +
                              " tokens, more than the KV capacity of " + std::to_string(capacity) +
                              " tokens (--kv-capacity)",
                   "context_length_exceeded");
  }
  return std::nullopt;
}

ApiError RefusedJob(const State& st, EngineLoop::Admission admission, httplib::Response& res) {
  ApiError e;
  if (admission == EngineLoop::Admission::kFull) {
    e.status = 429;
    e.type = "rate_limit_error";
    e.code = "queue_full";
    e.message = "too many requests queued (" +
                std::to_string(st.options.loop.max_running + st.options.loop.max_queued) +
                " running or waiting); retry later";
    res.set_header("Retry-After", "1");
  } else {
    e.status = 503;
    e.type = "server_error";
    e.code = "shutting_down";
    e.message = "the server is shutting down";
  }
  return e;
}

std::optional<ApiError> RunCompletionChoices(State& st, const CompletionRequest& req,
                                             httplib::Response& res,
                                             std::vector<CompletedChoice>* out) {
  std::vector<Prepared> prepared;
  if (auto e = Prepare(st, req, &prepared)) return e;
  if (auto e = Enqueue(st, prepared, Job::Kind::kGenerate, {}, res)) return e;
  for (size_t i = 0; i < prepared.size(); ++i) {
    RequestResult r = WaitResult(*prepared[i].channel);
    if (!r.status.ok()) {
      for (size_t k = i + 1; k < prepared.size(); ++k) prepared[k].channel->Cancel();
      return EngineError(r.status);
    }
    Json receipt = req.receipt ? ChoiceReceipt(st, prepared[i].request, r) : Json(nullptr);
    out->push_back({prepared[i].request.prompt, prepared[i].sample, std::move(r), std::move(receipt)});
  }
  return std::nullopt;
}

void HandleCompletion(State& st, ApiKind kind, const httplib::Request& http,
                      httplib::Response& res) {
  CompletionRequest req;
  if (auto e = ParseCompletionRequest(http.body, kind, st.options.limits, &req)) {
    SendError(res, *e);
    return;
  }
  WarnIgnored(res, req.ignored_fields);
  std::vector<Prepared> prepared;
  if (auto e = Prepare(st, req, &prepared)) {
    SendError(res, *e);
    return;
  }
  if (auto e = Enqueue(st, prepared, Job::Kind::kGenerate, {}, res)) {
    SendError(res, *e);
    return;
  }
  if (req.stream) {
    StartStream(st, req, std::move(prepared), res);
  } else {
    Respond(st, req, prepared, res);
  }
}

}  // namespace detinfer::server
