// `detinfer generate MODEL --prompt TEXT | --ids 1,2,3 | --requests FILE.jsonl`: generation with
// logprobs, fingerprints and the schedule id. Text streams to the terminal as it is generated;
// with --json one line per request is printed, in input order.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "engine/schedule_id.h"
#include "model/model_bundle.h"
#include "subcommands.h"
#include "tokenizer/streaming_decoder.h"

namespace detinfer::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct GenerateOptions {
  std::string model, tokenizer, prompt, ids, requests, stop_ids;
  std::vector<std::string> stop;
  int32_t max_tokens = 16, top_k = 0, logprobs = 0;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
  uint64_t seed = 0;
  EngineFlags engine;
  bool json = false;
};

// One request from the flags or from a JSONL line; `error` set when it cannot be built.
struct Pending {
  Request request;
  Status error;
};

Status EncodePrompt(const ModelBundle& b, const std::string& text, std::vector<int32_t>* ids) {
  if (!b.tokenizer) {
    return Status::InvalidArgument("a text prompt needs a tokenizer, and " + b.tokenizer_source +
                                   "; use token ids instead");
  }
  DETINFER_ASSIGN_OR_RETURN(*ids, b.tokenizer->Encode(text, /*add_bos=*/true));
  return Status::Ok();
}

Pending FromJsonLine(const ModelBundle& b, const GenerateOptions& o, const std::string& line,
                     size_t line_no) {
  Pending p;
  p.request.id = "line-" + std::to_string(line_no);
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& m) {
    p.error = Status::InvalidArgument("requests line " + std::to_string(line_no) + ": " + m);
    return p;
  };
  if (!j.is_object()) return bad("not a JSON object");
  if (j.contains("id")) {
    if (!j["id"].is_string()) return bad("\"id\" must be a string");
    p.request.id = j["id"].get<std::string>();
  }
  Request& r = p.request;
  r.max_new_tokens = o.max_tokens;
  r.sampling = {o.temperature, o.top_k, o.top_p, o.min_p, o.seed};
  r.top_logprobs = o.logprobs;
  auto num = [&](const char* key, auto* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_number()) return false;
    *out = j[key].get<std::remove_pointer_t<decltype(out)>>();
    return true;
  };
  if (!num("max_tokens", &r.max_new_tokens) || !num("temperature", &r.sampling.temperature) ||
      !num("top_p", &r.sampling.top_p) || !num("top_k", &r.sampling.top_k) ||
      !num("min_p", &r.sampling.min_p) || !num("seed", &r.sampling.seed) ||
      !num("logprobs", &r.top_logprobs)) {
    return bad("a numeric field (max_tokens, temperature, top_p, top_k, min_p, seed, logprobs) "
               "is not a number");
  }
  auto id_list = [&](const char* key, std::vector<int32_t>* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_array()) return false;
    for (const auto& v : j[key]) {
      if (!v.is_number_integer()) return false;
      out->push_back(v.get<int32_t>());
    }
    return true;
  };
  if (!id_list("ids", &r.prompt)) return bad("\"ids\" must be a list of integers");
  if (!id_list("stop_ids", &r.stop_ids)) return bad("\"stop_ids\" must be a list of integers");
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
    Status s = EncodePrompt(b, j["prompt"].get<std::string>(), &r.prompt);
    if (!s.ok()) return bad(s.message());
  }
  return p;
}

nlohmann::json ResultJson(const RequestResult& r, const ModelBundle& b, const std::string& sid,
                          double ttft_ms, double total_ms) {
  nlohmann::json j = {{"id", r.id}};
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
  auto rt = MakeRuntime(o.engine.threads);
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx);
  if (!b.ok()) return Fail(b.status());
  auto opts = ToEngineOptions(o.engine, b->model->config().max_seq_len);
  if (!opts.ok()) return Fail(opts.status());
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
  } else {
    Pending p;
    p.request.id = "0";
    p.request.max_new_tokens = o.max_tokens;
    p.request.sampling = {o.temperature, o.top_k, o.top_p, o.min_p, o.seed};
    p.request.top_logprobs = o.logprobs;
    p.request.stop_strings = o.stop;
    if (!o.stop_ids.empty()) {
      auto stop = ParseIds("--stop-ids", o.stop_ids);
      if (!stop.ok()) return Fail(stop.status());
      p.request.stop_ids = *stop;
    }
    if (!o.ids.empty()) {
      auto ids = ParseIds("--ids", o.ids);
      if (!ids.ok()) return Fail(ids.status());
      p.request.prompt = *ids;
    } else {
      Status s = EncodePrompt(*b, o.prompt, &p.request.prompt);
      if (!s.ok()) return Fail(s);
    }
    pending.push_back(std::move(p));
  }

  // Streaming and timings.
  const bool stream = !o.json && pending.size() == 1;
  std::unique_ptr<StreamingDecoder> decoder;
  if (stream && b->tokenizer && !pending[0].request.prompt.empty()) {
    decoder = std::make_unique<StreamingDecoder>(*b->tokenizer, pending[0].request.prompt.back());
  }
  const auto t0 = Clock::now();
  std::map<std::string, double> first_ms;
  (*engine)->SetOnToken([&](const std::string& id, int32_t token) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    first_ms.emplace(id, ms);
    if (!stream) return;
    if (decoder) {
      auto piece = decoder->Push(token);
      if (piece.ok()) std::fputs(piece->c_str(), stdout);
    } else {
      std::printf("%d ", token);
    }
    std::fflush(stdout);
  });

  std::vector<Request> reqs;
  for (const Pending& p : pending) {
    if (p.error.ok()) reqs.push_back(p.request);
  }
  const std::vector<RequestResult> results = (*engine)->Generate(reqs);
  const double total_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (decoder) std::fputs(decoder->Finish().c_str(), stdout);
  if (stream) std::printf("\n");

  const std::string sid = ScheduleId({rt->ctx.isa, opts->kv_dtype, b->model_hash, b->tokenizer_hash});
  int failures = 0;
  size_t next = 0;
  for (const Pending& p : pending) {
    RequestResult r;
    if (p.error.ok()) {
      r = results[next++];
    } else {
      r.id = p.request.id;
      r.status = p.error;
    }
    failures += !r.status.ok();
    const double ttft = first_ms.count(r.id) ? first_ms[r.id] : 0.0;
    if (o.json || pending.size() > 1) {
      std::printf("%s\n", ResultJson(r, *b, sid, ttft, total_ms).dump().c_str());
    } else if (!r.status.ok()) {
      std::fprintf(stderr, "detinfer: %s\n", r.status.message().c_str());
    } else {
      std::printf("[%zu tokens, finish %s, %lld prompt tokens from the prefix cache, fingerprint %s, "
                  "schedule %s, first token %.1f ms, %.1f ms total]\n",
                  r.tokens.size(), std::string(FinishReasonName(r.finish)).c_str(),
                  static_cast<long long>(r.cached_tokens),
                  Hex64(r.fingerprint).c_str(), sid.c_str(), ttft, total_ms);
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

void RegisterGenerate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate tokens with logprobs and a fingerprint");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--prompt", o->prompt, "Prompt text (needs a tokenizer)");
  cmd->add_option("--ids", o->ids, "Prompt token ids, e.g. 1,2,3");
  cmd->add_option("--requests", o->requests, "JSONL file, one request per line, run together");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json or tokenizer.bin");
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate (default 16)");
  cmd->add_option("--temperature", o->temperature, "0 = greedy (default)");
  cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0 = all)");
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling threshold (default 1)");
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p times the top probability");
  cmd->add_option("--seed", o->seed, "Sampling seed");
  cmd->add_option("--stop-ids", o->stop_ids, "Stop after any of these ids, e.g. 2");
  cmd->add_option("--stop", o->stop, "Stop once the text contains this (repeatable)");
  cmd->add_option("--logprobs", o->logprobs, "Report the top-N alternatives of each token");
  AddEngineFlags(cmd, &o->engine);
  cmd->add_flag("--json", o->json, "One JSON line per request");
  cmd->callback([o] { std::exit(RunGenerate(*o)); });
}

}  // namespace detinfer::cli
