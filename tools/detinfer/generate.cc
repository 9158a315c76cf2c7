// `detinfer generate MODEL --prompt TEXT | --ids 1,2,3 | --requests FILE.jsonl`: generation with
// logprobs, fingerprints and the schedule id. Text streams to the terminal as it is generated;
// with --json, and always with --requests, one JSON line per request is printed, in input order.
// Generation stops at the tokenizer's end-of-sequence id unless --ignore-eos. --speculative
// lookup|draft guesses ahead (same output bits, same schedule id; per-request counts in the JSON).
// --n N draws N samples of every request (engine/sample_group.h: sample i uses a seed derived
// from --seed and i, the prompt's K/V are computed once); one result per sample, in order.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "cli_common.h"
#include "detinfer/engine.h"
#include "detinfer/load.h"
#include "detinfer/runtime.h"
#include "subcommands.h"
#include "verify/receipt.h"

namespace detinfer::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct GenerateOptions {
  std::string model, tokenizer, prompt, ids, requests, stop_ids, receipt;
  std::vector<std::string> stop;
  int32_t max_tokens = 16, top_k = 0, logprobs = 0, n = 1;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
  float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
  int32_t min_tokens = 0;
  uint64_t seed = 0;
  EngineFlags engine;
  SpeculativeFlags speculative;
  bool json = false, ignore_eos = false, keep_special = false;
};

// One request from the flags or from a JSONL line; `error` set when it cannot be built.
SamplingParams FlagSampling(const GenerateOptions& o) {
  return {o.temperature, o.top_k, o.top_p, o.min_p, o.seed,
          {o.repetition_penalty, o.frequency_penalty, o.presence_penalty}};
}

struct Pending {
  Request request;
  Status error;
};

// The keys a --requests line may have. Anything else is an error: a misspelt key
// ("max_new_tokens") silently ignored would run a request the user did not ask for.
constexpr const char* kRequestKeys[] = {"id",    "prompt", "ids",   "max_tokens",     "temperature",
                                        "top_p", "top_k",  "min_p", "seed",           "logprobs",
                                        "stop",  "stop_token_ids", "stop_ids", "ignore_eos",
                                        "repetition_penalty", "presence_penalty",
                                        "frequency_penalty", "min_tokens",
                                        "skip_special_tokens", "speculative"};

// j[key] into *out when present; false when it is not a number of T's kind or out of T's range.
template <typename T>
bool ReadNumber(const nlohmann::json& j, const char* key, T* out) {
  if (!j.contains(key)) return true;
  const nlohmann::json& v = j[key];
  if constexpr (std::is_integral_v<T>) {
    if (v.is_number_unsigned()) {
      if (!std::in_range<T>(v.get<uint64_t>())) return false;
    } else if (!v.is_number_integer() || !std::in_range<T>(v.get<int64_t>())) {
      return false;
    }
  } else if (!v.is_number()) {
    return false;
  }
  *out = v.get<T>();
  return true;
}

Pending FromJsonLine(const ModelBundle& b, const GenerateOptions& o, const std::string& line,
                     size_t line_no) {
  Pending p;
  p.request.id = "line-" + std::to_string(line_no);
  auto bad = [&](const std::string& m) {
    p.error = Status::InvalidArgument("--requests line " + std::to_string(line_no) + ": " + m);
    return p;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message starts with its own "[json.exception.parse_error.101] " tag.
    std::string what = e.what();
    const size_t tag = what.find("] ");
    return bad("not valid JSON: " + (tag == std::string::npos ? what : what.substr(tag + 2)));
  }
  if (!j.is_object()) return bad("not a JSON object (expected e.g. {\"prompt\": \"...\"})");
  std::string unknown;
  for (const auto& [key, value] : j.items()) {
    if (std::find_if(std::begin(kRequestKeys), std::end(kRequestKeys),
                     [&](const char* k) { return key == k; }) == std::end(kRequestKeys)) {
      unknown += (unknown.empty() ? "\"" : ", \"") + key + "\"";
    }
  }
  if (!unknown.empty()) {
    std::string known;
    for (const char* k : kRequestKeys) known += (known.empty() ? "" : ", ") + std::string(k);
    return bad("unknown key " + unknown + " (known: " + known + ")");
  }
  if (j.contains("id")) {
    if (!j["id"].is_string()) return bad("\"id\" must be a string");
    p.request.id = j["id"].get<std::string>();
  }
  Request& r = p.request;
  r.max_new_tokens = o.max_tokens;
  r.sampling = FlagSampling(o);
  r.min_tokens = o.min_tokens;
  r.top_logprobs = o.logprobs;
  bool ignore_eos = o.ignore_eos;
  struct Field {
    const char* key;
    bool ok, integer;
  };
  for (const Field& f : {Field{"max_tokens", ReadNumber(j, "max_tokens", &r.max_new_tokens), true},
                         Field{"temperature", ReadNumber(j, "temperature", &r.sampling.temperature), false},
                         Field{"top_p", ReadNumber(j, "top_p", &r.sampling.top_p), false},
                         Field{"top_k", ReadNumber(j, "top_k", &r.sampling.top_k), true},
                         Field{"min_p", ReadNumber(j, "min_p", &r.sampling.min_p), false},
                         Field{"seed", ReadNumber(j, "seed", &r.sampling.seed), true},
                         Field{"repetition_penalty",
                               ReadNumber(j, "repetition_penalty", &r.sampling.penalties.repetition),
                               false},
                         Field{"presence_penalty",
                               ReadNumber(j, "presence_penalty", &r.sampling.penalties.presence),
                               false},
                         Field{"frequency_penalty",
                               ReadNumber(j, "frequency_penalty", &r.sampling.penalties.frequency),
                               false},
                         Field{"min_tokens", ReadNumber(j, "min_tokens", &r.min_tokens), true},
                         Field{"logprobs", ReadNumber(j, "logprobs", &r.top_logprobs), true}}) {
    if (!f.ok) {
      return bad(std::string("\"") + f.key + "\" must be " +
                 (f.integer ? "an integer in range" : "a number") + ", got " + j[f.key].dump());
    }
  }
  if (j.contains("ignore_eos")) {
    if (!j["ignore_eos"].is_boolean()) return bad("\"ignore_eos\" must be true or false");
    ignore_eos = j["ignore_eos"].get<bool>();
  }
  if (j.contains("speculative")) {
    if (!j["speculative"].is_boolean()) return bad("\"speculative\" must be true or false");
    r.speculative = j["speculative"].get<bool>();
  }
  r.skip_special_tokens = !o.keep_special;
  if (j.contains("skip_special_tokens")) {
    if (!j["skip_special_tokens"].is_boolean()) {
      return bad("\"skip_special_tokens\" must be true or false");
    }
    r.skip_special_tokens = j["skip_special_tokens"].get<bool>();
  }
  auto id_list = [&](const char* key, std::vector<int32_t>* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_array()) return false;
    for (const auto& v : j[key]) {
      if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX) {
        return false;
      }
      out->push_back(v.get<int32_t>());
    }
    return true;
  };
  if (!id_list("ids", &r.prompt)) return bad("\"ids\" must be a list of token ids");
  if (j.contains("stop_token_ids") && j.contains("stop_ids")) {
    return bad("give \"stop_token_ids\" or its alias \"stop_ids\", not both");
  }
  const char* stop_key = j.contains("stop_ids") ? "stop_ids" : "stop_token_ids";
  if (!id_list(stop_key, &r.stop_ids)) {
    return bad(std::string("\"") + stop_key + "\" must be a list of token ids");
  }
  if (j.contains("stop")) {
    const auto& st = j["stop"];
    if (st.is_string()) {
      r.stop_strings.push_back(st.get<std::string>());
    } else if (st.is_array()) {
      for (const auto& v : st) {
        if (!v.is_string()) return bad("\"stop\" must be a string or a list of strings");
        r.stop_strings.push_back(v.get<std::string>());
      }
    } else {
      return bad("\"stop\" must be a string or a list of strings");
    }
  }
  if (j.contains("prompt")) {
    if (!j["prompt"].is_string()) return bad("\"prompt\" must be a string");
    if (!r.prompt.empty()) return bad("give \"ids\" or \"prompt\", not both");
    auto ids = EncodeText(b, "--requests line " + std::to_string(line_no) + " \"prompt\"",
                          j["prompt"].get<std::string>(), /*add_bos=*/true);
    if (!ids.ok()) {
      p.error = ids.status();
      return p;
    }
    r.prompt = *ids;
  } else if (r.prompt.empty()) {
    return bad("no prompt: give \"prompt\" (text) or \"ids\" (token ids)");
  }
  AddEosStop(b.tokenizer.get(), ignore_eos, &r);
  return p;
}

// The generation flags, checked with the flags' own names before any request is built.
Status CheckFlags(const GenerateOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (o.max_tokens < 1) return bad("--max-tokens must be >= 1, got " + std::to_string(o.max_tokens));
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature)) {
    return bad("--temperature must be a finite number >= 0 (0 = greedy)");
  }
  if (o.top_k < 0) return bad("--top-k must be >= 0 (0 = all), got " + std::to_string(o.top_k));
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f)) return bad("--top-p must be in (0, 1]");
  if (!(o.min_p >= 0.0f && o.min_p <= 1.0f)) return bad("--min-p must be in [0, 1]");
  if (o.logprobs < 0) return bad("--logprobs must be >= 0, got " + std::to_string(o.logprobs));
  if (!(o.repetition_penalty > 0.0f) || !std::isfinite(o.repetition_penalty)) {
    return bad("--repetition-penalty must be a finite number > 0 (1 = none)");
  }
  if (!(o.presence_penalty >= -2.0f && o.presence_penalty <= 2.0f)) {
    return bad("--presence-penalty must be in [-2, 2]");
  }
  if (!(o.frequency_penalty >= -2.0f && o.frequency_penalty <= 2.0f)) {
    return bad("--frequency-penalty must be in [-2, 2]");
  }
  if (o.min_tokens < 0 || o.min_tokens > o.max_tokens) {
    return bad("--min-tokens must be in [0, --max-tokens = " + std::to_string(o.max_tokens) +
               "], got " + std::to_string(o.min_tokens));
  }
  if (o.n < 1 || o.n > kMaxSamplesPerPrompt) {
    return bad("--n (samples per prompt) must be in [1, " + std::to_string(kMaxSamplesPerPrompt) +
               "], got " + std::to_string(o.n));
  }
  return Status::Ok();
}

nlohmann::json ResultJson(const RequestResult& r, const Request& request, int32_t sample,
                          const ModelBundle& b, const std::string& sid, double ttft_ms,
                          double total_ms) {
  const std::vector<int32_t>& prompt = request.prompt;
  // The sample's own seed: that request alone with this seed gives these bits.
  nlohmann::json j = {{"id", r.id},
                      {"sample", sample},
                      {"seed", SampleSeed(request.sampling.seed, sample)}};
  if (!prompt.empty()) j["prompt_tokens"] = prompt;
  if (!r.status.ok()) {
    j["error"] = r.status.message();
    return j;
  }
  nlohmann::json top = nlohmann::json::array();
  for (const auto& alts : r.top_logprobs) {
    nlohmann::json a = nlohmann::json::array();
    for (const TokenLogprob& t : alts) a.push_back({{"token", t.token}, {"logprob", t.logprob}});
    top.push_back(a);
  }
  j["tokens"] = r.tokens;
  j["text"] = b.tokenizer ? nlohmann::json(r.text) : nlohmann::json(nullptr);
  j["logprobs"] = r.logprobs;
  j["sampling_logprobs"] = r.sampling_logprobs;
  if (!r.top_logprobs.empty()) j["top_logprobs"] = top;
  j["finish_reason"] = FinishReasonName(r.finish);
  j["fingerprint"] = Hex64(r.fingerprint);
  j["schedule_id"] = sid;
  j["preemptions"] = r.preemptions;
  j["cached_tokens"] = r.cached_tokens;
  j["speculative"] = {{"verify_passes", r.speculative.verify_passes},
                      {"proposed", r.speculative.proposed},
                      {"accepted", r.speculative.accepted}};
  const double decode_s = (total_ms - ttft_ms) / 1000.0;
  j["timings"] = {{"time_to_first_token_ms", ttft_ms},
                  {"total_ms", total_ms},
                  {"decode_tokens_per_s",
                   r.tokens.size() > 1 && decode_s > 0 ? double(r.tokens.size() - 1) / decode_s : 0.0}};
  return j;
}

int RunGenerate(const GenerateOptions& o) {
  const int sources = !o.prompt.empty() + !o.ids.empty() + !o.requests.empty();
  if (sources != 1) {
    return Fail(Status::InvalidArgument("give exactly one of --prompt, --ids or --requests"));
  }
  if (Status s = CheckFlags(o); !s.ok()) return Fail(s);
  if (!o.receipt.empty() && !o.requests.empty()) {
    return Fail(Status::InvalidArgument("--receipt records one request: use --prompt or --ids, "
                                        "not --requests"));
  }
  if (!o.receipt.empty() && o.n > 1) {
    return Fail(Status::InvalidArgument("--receipt records one request: not with --n > 1 (record "
                                        "one sample by running it alone with its seed)"));
  }
  auto rt = MakeRuntime(o.engine.threads);
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx, BundleOptionsFor(o.engine.weight_cache));
  if (!b.ok()) return Fail(b.status());
  NoteWeightCache(*b);
  auto opts = ToEngineOptions(o.engine, b->model->config());
  if (!opts.ok()) return Fail(opts.status());
  auto spec = ToSpeculativeOptions(o.speculative);
  if (!spec.ok()) return Fail(spec.status());
  auto draft = LoadDraftModel(o.speculative, *b, rt->ctx);
  if (!draft.ok()) return Fail(draft.status());
  opts->speculative = *spec;
  if (*draft) opts->speculative.draft_model = (*draft)->model.get();
  auto engine = Engine::Create(*b->model, rt->ctx, *opts, b->tokenizer.get());
  if (!engine.ok()) return Fail(engine.status());

  std::vector<Pending> pending;
  if (!o.requests.empty()) {
    std::ifstream in(o.requests);
    if (!in) return Fail(Status::NotFound("--requests: cannot open '" + o.requests + "'"));
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      pending.push_back(FromJsonLine(*b, o, line, n));
    }
    if (pending.empty()) {
      return Fail(Status::InvalidArgument("--requests: '" + o.requests +
                                          "' has no requests (expected one JSON object per line)"));
    }
  } else {
    Pending p;
    p.request.id = "0";
    p.request.max_new_tokens = o.max_tokens;
    p.request.sampling = FlagSampling(o);
    p.request.min_tokens = o.min_tokens;
    p.request.top_logprobs = o.logprobs;
    p.request.stop_strings = o.stop;
    p.request.skip_special_tokens = !o.keep_special;
    if (!o.stop_ids.empty()) {
      auto stop = ParseIds("--stop-token-ids", o.stop_ids);
      if (!stop.ok()) return Fail(stop.status());
      p.request.stop_ids = *stop;
    }
    auto prompt = PromptFromFlags(*b, o.ids, o.prompt);
    if (!prompt.ok()) return Fail(prompt.status());
    p.request.prompt = *prompt;
    AddEosStop(b->tokenizer.get(), o.ignore_eos, &p.request);
    pending.push_back(std::move(p));
  }

  // One request from the flags streams its text (or ids) as the engine makes it final; the text
  // streamed is the engine's own (TokenEvent::text), so it equals the text --json reports.
  // With --n > 1 the samples' texts would interleave: each is printed once it is done.
  const bool stream = !o.json && o.requests.empty() && o.n == 1;
  const bool text_out = !o.json && o.requests.empty();
  const auto t0 = Clock::now();
  std::map<uint64_t, double> first_ms;  // by submission
  (*engine)->SetOnTokenEvent([&](const TokenEvent& e) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    first_ms.emplace(e.submission, ms);
    if (!stream) return;
    if (b->tokenizer) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
    } else {
      std::printf("%d ", e.token);
    }
    std::fflush(stdout);
  });

  std::vector<Request> reqs;
  for (const Pending& p : pending) {
    if (p.error.ok()) reqs.push_back(p.request);
  }
  const std::vector<std::vector<RequestResult>> results = GenerateSamples(**engine, reqs, o.n);
  const double total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (stream && !first_ms.empty()) std::printf("\n");

  const std::string sid = ScheduleId({rt->ctx.isa, opts->kv_dtype, b->model_hash, b->tokenizer_hash});
  int failures = 0;
  size_t next = 0;
  for (const Pending& p : pending) {
    const std::vector<RequestResult>* samples = p.error.ok() ? &results[next++] : nullptr;
    for (int32_t sample = 0; sample < o.n; ++sample) {
      RequestResult r;
      if (samples != nullptr) {
        r = (*samples)[static_cast<size_t>(sample)];
      } else {
        r.id = p.request.id;
        r.status = p.error;
      }
      failures += !r.status.ok();
      if (!o.receipt.empty() && r.status.ok()) {
        const nlohmann::json receipt = MakeReceipt(
            {o.model, b->model_hash, b->tokenizer_hash, sid, opts->kv_dtype, p.request, r});
        std::ofstream out(o.receipt);
        if (!(out << receipt.dump(1) << "\n")) {
          return Fail(Status::IoError("--receipt: cannot write '" + o.receipt + "'"));
        }
      }
      const auto first = r.status.ok() ? first_ms.find(r.submission) : first_ms.end();
      const double ttft = first != first_ms.end() ? first->second : 0.0;
      if (!text_out) {
        std::printf("%s\n", ResultJson(r, p.request, sample, *b, sid, ttft, total_ms).dump().c_str());
      } else if (!r.status.ok()) {
        return Fail(r.status);
      } else {
        if (!stream) {
          std::printf("[sample %d, seed %llu]\n", sample,
                      static_cast<unsigned long long>(SampleSeed(p.request.sampling.seed, sample)));
          if (b->tokenizer) {
            std::printf("%s\n", r.text.c_str());
          } else {
            for (const int32_t t : r.tokens) std::printf("%d ", t);
            std::printf("\n");
          }
        }
        std::string guesses;
        if (spec->source != DraftSource::kNone) {
          guesses = ", " + std::to_string(r.speculative.accepted) + " of " +
                    std::to_string(r.speculative.proposed) + " guesses accepted";
        }
        std::printf("[%zu tokens, finish %s, %lld prompt tokens from the prefix cache%s, fingerprint %s, "
                    "schedule %s, first token %.1f ms, %.1f ms total]\n",
                    r.tokens.size(), std::string(FinishReasonName(r.finish)).c_str(),
                    static_cast<long long>(r.cached_tokens), guesses.c_str(),
                    Hex64(r.fingerprint).c_str(), sid.c_str(), ttft, total_ms);
      }
    }
  }
  return failures == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterGenerate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate tokens with logprobs and a fingerprint");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--prompt", o->prompt, "Prompt text (needs a tokenizer)");
  cmd->add_option("--receipt", o->receipt,
                  "Write a run receipt (JSON) that `detinfer replay` checks anywhere, step by step");
  cmd->add_option("--ids", o->ids, "Prompt token ids, e.g. 1,2,3");
  cmd->add_option("--requests", o->requests, "JSONL file, one request per line, run together");
  cmd->add_option("--tokenizer", o->tokenizer, kTokenizerHelp);
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate (default 16)");
  cmd->add_option("--temperature", o->temperature, "Sampling temperature; 0 = greedy (default 0)");
  cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens; 0 = all (default 0)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold (default 1)");
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p times the top probability (default 0)");
  cmd->add_option("--seed", o->seed, "Sampling seed (default 0)");
  cmd->add_option("--repetition-penalty", o->repetition_penalty,
                  "Divide positive (multiply negative) logits of tokens already in the prompt or "
                  "output by this (default 1 = none)");
  cmd->add_option("--presence-penalty", o->presence_penalty,
                  "Subtract this from the logits of tokens already generated, in [-2, 2] (default 0)");
  cmd->add_option("--frequency-penalty", o->frequency_penalty,
                  "Subtract this times a token's count among the generated tokens, in [-2, 2] "
                  "(default 0)");
  cmd->add_option("--min-tokens", o->min_tokens,
                  "Generate at least this many tokens before a stop id, EOS or stop string may end "
                  "the request (default 0)");
  cmd->add_option("--n", o->n,
                  "Samples per prompt (default 1, at most " + std::to_string(kMaxSamplesPerPrompt) +
                      "): sample 0 uses the seed, sample i a seed derived from it (shown with "
                      "--json); the prompt is computed once");
  cmd->add_option("--stop-token-ids,--stop-ids", o->stop_ids,
                  "Stop after any of these ids, e.g. 2 (the id is reported, its text is not)");
  cmd->add_option("--stop", o->stop, "Stop once the text contains this (repeatable)");
  cmd->add_option("--logprobs", o->logprobs, "Report the top-N alternatives of each token (default 0)");
  cmd->add_flag("--ignore-eos", o->ignore_eos,
                "Go on after the end-of-sequence token (by default generation stops there)");
  cmd->add_flag("--keep-special-tokens", o->keep_special,
                "Keep the text of special tokens (<s>, <|im_start|>, ...) in the output text; by "
                "default only their ids are reported");
  AddEngineFlags(cmd, &o->engine);
  AddSpeculativeFlags(cmd, &o->speculative);
  cmd->add_flag("--json", o->json, "One JSON line per request (always so with --requests)");
  cmd->callback([o] { std::exit(RunGenerate(*o)); });
}

}  // namespace detinfer::cli
