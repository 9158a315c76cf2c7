// The server against what OpenAI's API (and vLLM, where OpenAI says nothing) answers: shapes
// and edge cases of issue #20, each checked against the documented behaviour, not our output.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;

// Prometheus' clients print bucket bounds in their shortest form: le="0.005", not
// le="0.0050000000000000001".
TEST(ServerOpenAiCompatTest, MetricsBucketBoundsAreShortest) {
  testing::TestServer server;
  auto c = server.Client();
  const std::string m = testing::Get(*c, "/metrics").body;
  for (const char* bound : {"le=\"0.005\"", "le=\"0.0025\"", "le=\"0.001\"", "le=\"0.1\"",
                            "le=\"2.5\"", "le=\"30\"", "le=\"+Inf\""}) {
    EXPECT_NE(m.find(std::string("detinfer_time_to_first_token_seconds_bucket{") + bound),
                  std::string::npos)
        << bound << "\n"
        << m;
  }
  EXPECT_NE(m.find("detinfer_inter_token_latency_seconds_bucket{le=\"0.0005\"}"),
            std::string::npos);
  EXPECT_EQ(m.find("00000000"), std::string::npos) << m;
}

// A temperature above 0 but so small that logits / T overflows (1e-38) is a point mass on the
// most likely token: vLLM and OpenAI treat it as greedy. The answer must be exactly the
// temperature-0 one (tokens and logprob bits), whatever the seed, not samples drawn from
// infinities.
TEST(ServerOpenAiCompatTest, TinyTemperatureIsGreedy) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer verbs({}, {}, b.model.get(), b.tokenizer.get());
  testing::TestServer random;
  for (testing::TestServer* server : {&verbs, &random}) {
    auto c = server->Client();
    const auto run = [&](double temperature, int seed) {
      const testing::HttpReply r = testing::Post(
          *c, "/v1/completions",
          Json{{"prompt", {1, 5, 9, 12}}, {"max_tokens", 24}, {"temperature", temperature},
               {"seed", seed}, {"ignore_eos", true}, {"logprobs", 2}}
              .dump());
      EXPECT_EQ(r.status, 200) << r.body;
      return r.json()["choices"][0];
    };
    const Json greedy = run(0.0, 0);
    for (const double t : {1e-38, 1e-30}) {
      for (const int seed : {0, 7}) {
        const Json tiny = run(t, seed);
        EXPECT_EQ(testing::ChoiceBits(tiny), testing::ChoiceBits(greedy)) << t << " " << seed;
        EXPECT_EQ(tiny["logprobs"], greedy["logprobs"]);
      }
    }
  }
}

// OpenAI's shape for "no alternatives": completions `logprobs: 0` still give `top_logprobs`, one
// empty object per token (not null); chat `logprobs: true, top_logprobs: 0` one empty list per
// token. Streamed chunks likewise.
TEST(ServerOpenAiCompatTest, ZeroAlternativesAreEmptyPerToken) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  auto c = server.Client();
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "whole");
    const testing::HttpReply r = testing::Post(
        *c, "/v1/completions",
        Json{{"prompt", "the cat"}, {"max_tokens", 5}, {"logprobs", 0}, {"stream", stream},
             {"ignore_eos", true}}
            .dump());
    ASSERT_EQ(r.status, 200) << r.body;
    std::vector<Json> logprobs;
    if (stream) {
      for (const std::string& d : testing::SseData(r.body)) {
        if (d == "[DONE]") break;
        const Json lp = Json::parse(d)["choices"][0]["logprobs"];
        if (!lp.is_null()) logprobs.push_back(lp);
      }
    } else {
      logprobs.push_back(r.json()["choices"][0]["logprobs"]);
    }
    size_t tokens = 0;
    for (const Json& lp : logprobs) {
      ASSERT_TRUE(lp["top_logprobs"].is_array()) << lp.dump();
      ASSERT_EQ(lp["top_logprobs"].size(), lp["tokens"].size()) << lp.dump();
      for (const Json& t : lp["top_logprobs"]) EXPECT_EQ(t, Json::object()) << lp.dump();
      tokens += lp["tokens"].size();
    }
    EXPECT_EQ(tokens, 5u);

    const testing::HttpReply chat = testing::Post(
        *c, "/v1/chat/completions",
        Json{{"messages", {{{"role", "user"}, {"content", "the cat"}}}},
             {"max_tokens", 5},
             {"logprobs", true},
             {"top_logprobs", 0},
             {"stream", stream},
             {"ignore_eos", true}}
            .dump());
    ASSERT_EQ(chat.status, 200) << chat.body;
    std::vector<Json> contents;
    if (stream) {
      for (const std::string& d : testing::SseData(chat.body)) {
        if (d == "[DONE]") break;
        const Json lp = Json::parse(d)["choices"][0]["logprobs"];
        if (!lp.is_null()) contents.push_back(lp["content"]);
      }
    } else {
      contents.push_back(chat.json()["choices"][0]["logprobs"]["content"]);
    }
    tokens = 0;
    for (const Json& content : contents) {
      for (const Json& t : content) {
        EXPECT_EQ(t["top_logprobs"], Json::array()) << t.dump();
        ++tokens;
      }
    }
    EXPECT_EQ(tokens, 5u);
  }
  // With echo, the first prompt token has no logprob and so no alternatives: null, as OpenAI.
  const testing::HttpReply echo = testing::Post(
      *c, "/v1/completions",
      Json{{"prompt", "the cat"}, {"max_tokens", 2}, {"logprobs", 0}, {"echo", true}}.dump());
  ASSERT_EQ(echo.status, 200) << echo.body;
  const Json lp = echo.json()["choices"][0]["logprobs"];
  ASSERT_GE(lp["top_logprobs"].size(), 3u) << lp.dump();
  EXPECT_TRUE(lp["top_logprobs"][0].is_null()) << lp.dump();
  EXPECT_EQ(lp["top_logprobs"][1], Json::object()) << lp.dump();
}

// OpenAI's "retrieve model", GET /v1/models/{model}: the same model object /v1/models lists, or
// 404 with code model_not_found.
TEST(ServerOpenAiCompatTest, RetrieveModel) {
  testing::TestServer server;
  auto c = server.Client();
  const testing::HttpReply list = testing::Get(*c, "/v1/models");
  ASSERT_EQ(list.status, 200) << list.body;
  const testing::HttpReply one = testing::Get(*c, "/v1/models/test-model");
  ASSERT_EQ(one.status, 200) << one.body;
  const Json m = one.json();
  EXPECT_EQ(m["id"], "test-model");
  EXPECT_EQ(m["object"], "model");
  EXPECT_TRUE(m["created"].is_number_integer());
  EXPECT_TRUE(m["owned_by"].is_string());
  EXPECT_EQ(m, list.json()["data"][0]);
  // What the engine holds (TestServer: 4096 tokens of f32 KV): K and V of every layer, 4 bytes.
  const ModelConfig& mc = testing::ServerTestModel().config();
  EXPECT_EQ(m["kv_capacity_tokens"], 4096);
  EXPECT_EQ(m["kv_dtype"], "f32");
  EXPECT_EQ(m["kv_bytes_per_token"], 2 * mc.n_layers * mc.n_kv_heads * mc.head_dim * 4);

  for (const char* path : {"/v1/models/gpt-4", "/v1/models/test-model-2", "/v1/models/org/x"}) {
    const testing::HttpReply r = testing::Get(*c, path);
    EXPECT_EQ(r.status, 404) << path;
    const Json e = r.json()["error"];
    EXPECT_EQ(e["code"], "model_not_found") << r.body;
    EXPECT_EQ(e["type"], "invalid_request_error") << r.body;
    EXPECT_EQ(e["param"], "model") << r.body;
    EXPECT_NE(e["message"].get<std::string>().find("does not exist"), std::string::npos);
  }
  EXPECT_EQ(testing::Post(*c, "/v1/models/test-model", "{}").status, 405);
  // A request is counted (httplib's logger) just after its answer is written: wait for it.
  const std::string want = "endpoint=\"/v1/models/{id}\",code=\"404\"} 3";
  std::string metrics;
  for (int i = 0; i < 200; ++i) {
    metrics = testing::Get(*c, "/metrics").body;
    if (metrics.find(want) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(metrics.find(want), std::string::npos) << metrics;
}

// The retrieve route needs the API key like every /v1/ route.
TEST(ServerOpenAiCompatTest, RetrieveModelNeedsTheApiKey) {
  server::ServerOptions o;
  o.api_key = "sekrit";
  testing::TestServer server(o);
  auto c = server.Client();
  EXPECT_EQ(testing::Get(*c, "/v1/models/test-model").status, 401);
  c->set_bearer_token_auth("sekrit");
  EXPECT_EQ(testing::Get(*c, "/v1/models/test-model").status, 200);
}

// OpenAI's chat schema: `message.refusal` is always there (null: we never refuse), and so is
// `logprobs.refusal` when logprobs are given, streamed or not.
TEST(ServerOpenAiCompatTest, ChatCarriesRefusalNull) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  auto c = server.Client();
  for (const bool logprobs : {false, true}) {
    const testing::HttpReply r = testing::Post(
        *c, "/v1/chat/completions",
        Json{{"messages", {{{"role", "user"}, {"content", "the cat"}}}},
             {"max_tokens", 3},
             {"logprobs", logprobs}}
            .dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const Json choice = r.json()["choices"][0];
    ASSERT_TRUE(choice["message"].contains("refusal")) << r.body;
    EXPECT_TRUE(choice["message"]["refusal"].is_null());
    EXPECT_EQ(choice["message"]["role"], "assistant");
    if (logprobs) {
      ASSERT_TRUE(choice["logprobs"].contains("refusal")) << r.body;
      EXPECT_TRUE(choice["logprobs"]["refusal"].is_null());
      EXPECT_TRUE(choice["logprobs"]["content"].is_array());
    } else {
      EXPECT_TRUE(choice["logprobs"].is_null());
    }
  }
  const testing::HttpReply s = testing::Post(
      *c, "/v1/chat/completions",
      Json{{"messages", {{{"role", "user"}, {"content", "the cat"}}}},
           {"max_tokens", 3},
           {"ignore_eos", true},
           {"logprobs", true},
           {"stream", true}}
          .dump());
  ASSERT_EQ(s.status, 200) << s.body;
  int with_logprobs = 0;
  for (const std::string& d : testing::SseData(s.body)) {
    if (d == "[DONE]") break;
    const Json lp = Json::parse(d)["choices"][0]["logprobs"];
    if (lp.is_null()) continue;
    ++with_logprobs;
    ASSERT_TRUE(lp.contains("refusal")) << d;
    EXPECT_TRUE(lp["refusal"].is_null());
  }
  EXPECT_GT(with_logprobs, 0);
}

// OpenAI's stream_options.include_usage: "an additional chunk will be streamed before the
// data: [DONE] message. The usage field on this chunk shows the token usage statistics for the
// entire request, and the choices field will always be an empty array. All other chunks will
// also include a usage field, but with a null value." Without it, no chunk has `usage`.
TEST(ServerOpenAiCompatTest, StreamedChunksCarryUsageNullButTheLast) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  auto c = server.Client();
  for (const bool chat : {false, true}) {
    for (const bool include : {false, true}) {
      SCOPED_TRACE(std::string(chat ? "chat" : "completions") + (include ? " usage" : ""));
      Json body = {{"max_tokens", 4}, {"ignore_eos", true}, {"stream", true},
                   {"stream_options", {{"include_usage", include}}}};
      if (chat) {
        body["messages"] = {{{"role", "user"}, {"content", "the cat"}}};
      } else {
        body["prompt"] = "the cat";
        body["echo"] = true;
      }
      const testing::HttpReply r =
          testing::Post(*c, chat ? "/v1/chat/completions" : "/v1/completions", body.dump());
      ASSERT_EQ(r.status, 200) << r.body;
      std::vector<Json> chunks;
      for (const std::string& d : testing::SseData(r.body)) {
        if (d != "[DONE]") chunks.push_back(Json::parse(d));
      }
      ASSERT_GE(chunks.size(), 3u);
      if (!include) {
        for (const Json& j : chunks) EXPECT_FALSE(j.contains("usage")) << j.dump();
        continue;
      }
      for (size_t i = 0; i + 1 < chunks.size(); ++i) {
        ASSERT_TRUE(chunks[i].contains("usage")) << chunks[i].dump();
        EXPECT_TRUE(chunks[i]["usage"].is_null()) << chunks[i].dump();
        EXPECT_EQ(chunks[i]["choices"].size(), 1u);
      }
      const Json& last = chunks.back();
      EXPECT_EQ(last["choices"], Json::array());
      EXPECT_EQ(last["usage"]["completion_tokens"], 4) << last.dump();
    }
  }
}

// A request whose prompt plus max_tokens can never fit the engine's whole KV cache (4096 tokens
// here, under a context of 8192) is refused up front, as vLLM refuses one beyond what it can
// hold: 400 context_length_exceeded naming the numbers and --kv-capacity — not accepted, then
// failed with a 503 that a client would retry.
TEST(ServerOpenAiCompatTest, BeyondTheKvCapacityIs400UpFront) {
  testing::TestServer small({}, {}, &testing::LongContextModel());  // KV: 4096 tokens
  auto c = small.Client();
  const std::vector<int32_t> prompt(100, 1);
  for (const bool stream : {false, true}) {
    const testing::HttpReply r = testing::Post(
        *c, "/v1/completions",
        Json{{"prompt", prompt}, {"max_tokens", 5000}, {"stream", stream}}.dump());
    ASSERT_EQ(r.status, 400) << r.body;
    const Json e = r.json()["error"];
    EXPECT_EQ(e["code"], "context_length_exceeded") << r.body;
    EXPECT_EQ(e["param"], "max_tokens") << r.body;
    const std::string m = e["message"].get<std::string>();
    for (const char* part : {"100", "5000", "4096", "--kv-capacity", "3996"}) {
      EXPECT_NE(m.find(part), std::string::npos) << part << ": " << m;
    }
  }
  // Exactly the capacity fits and runs to its end.
  const testing::HttpReply fits = testing::Post(
      *c, "/v1/completions",
      Json{{"prompt", std::vector<int32_t>(4000, 1)}, {"max_tokens", 96}, {"ignore_eos", true}}
          .dump());
  ASSERT_EQ(fits.status, 200) << fits.body;
  EXPECT_EQ(fits.json()["choices"][0]["token_ids"].size(), 96u);
  // Without max_tokens the default stays within the capacity too: 16 new tokens, or fewer when
  // only fewer fit.
  const testing::HttpReply near = testing::Post(
      *c, "/v1/completions",
      Json{{"prompt", std::vector<int32_t>(4090, 1)}, {"ignore_eos", true}}.dump());
  ASSERT_EQ(near.status, 200) << near.body;
  EXPECT_EQ(near.json()["choices"][0]["token_ids"].size(), 6u);
}

// Prompt positions with echo get the alternatives generated tokens get (OpenAI's completions
// with echo + logprobs N), and vLLM's `prompt_logprobs: k` gives per position the prompt token
// {logprob, rank, decoded_token} plus the k most likely: all checked against /v1/score, which
// computes the same rows independently (teacher forcing), and against each other.
TEST(ServerOpenAiCompatTest, PromptPositionsGetAlternativesAndVllmPromptLogprobs) {
  testing::TestServer server;
  auto c = server.Client();
  const std::vector<int32_t> prompt = {1, 9, 9, 30, 12, 7};
  const testing::HttpReply r = testing::Post(
      *c, "/v1/completions",
      Json{{"prompt", prompt}, {"max_tokens", 2}, {"logprobs", 3}, {"echo", true},
           {"prompt_logprobs", 4}}
          .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json choice = r.json()["choices"][0];
  const Json lp = choice["logprobs"];
  ASSERT_EQ(lp["top_logprobs"].size(), prompt.size() + 2);
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  const Json plp = choice["prompt_logprobs"];
  ASSERT_EQ(plp.size(), prompt.size()) << plp.dump();
  EXPECT_TRUE(plp[0].is_null());
  // The prompt's logprobs as /v1/score gives them: prompt[1..] scored after prompt[0].
  const testing::HttpReply scored = testing::Post(
      *c, "/v1/score",
      Json{{"prompt", {prompt[0]}},
           {"completion", std::vector<int32_t>(prompt.begin() + 1, prompt.end())}}
          .dump());
  ASSERT_EQ(scored.status, 200) << scored.body;
  const Json want = scored.json()["token_logprobs"];
  for (size_t p = 1; p < prompt.size(); ++p) {
    SCOPED_TRACE(p);
    EXPECT_EQ(lp["token_logprobs"][p], want[p - 1]);
    EXPECT_EQ(lp["top_logprobs"][p].size(), 3u) << lp["top_logprobs"][p].dump();
    const Json& entry = plp[p];
    const std::string id = std::to_string(prompt[p]);
    ASSERT_TRUE(entry.contains(id)) << entry.dump();
    EXPECT_EQ(entry[id]["logprob"], want[p - 1]);
    const int rank = entry[id]["rank"].get<int>();
    EXPECT_GE(rank, 1);
    // 4 alternatives plus the prompt token, unless it is one of them.
    EXPECT_EQ(entry.size(), rank <= 4 ? 4u : 5u) << entry.dump();
    // Ranks 1..4 are the alternatives in order, their logprobs falling, each at least the
    // prompt token's when it ranks below them.
    std::vector<double> by_rank(5, 0.0);
    for (const auto& [k, v] : entry.items()) {
      const int kr = v["rank"].get<int>();
      if (kr <= 4) by_rank[size_t(kr)] = v["logprob"].get<double>();
      EXPECT_EQ(v["decoded_token"], k) << "no tokenizer: a token's text is its id";
    }
    for (int k = 2; k <= 4; ++k) EXPECT_LE(by_rank[size_t(k)], by_rank[size_t(k - 1)]);
    if (rank > 4) {
      EXPECT_LE(entry[id]["logprob"].get<double>(), by_rank[4]);
    }
    // The alternatives are the same under both names.
    for (const auto& [tok, l] : lp["top_logprobs"][p].items()) {
      ASSERT_TRUE(entry.contains(tok)) << tok;
      EXPECT_EQ(entry[tok]["logprob"], l);
    }
  }
  // Not streamed: refused, naming the field.
  const testing::HttpReply s = testing::Post(
      *c, "/v1/completions",
      Json{{"prompt", prompt}, {"max_tokens", 2}, {"prompt_logprobs", 1}, {"stream", true}}.dump());
  ASSERT_EQ(s.status, 400) << s.body;
  EXPECT_EQ(s.json()["error"]["param"], "prompt_logprobs");
}


// OpenAI's way to score a prompt: echo + max_tokens 0 answers with the prompt alone, its
// logprobs those /v1/score gives, no generated token. Without echo (or in chat, or streamed) 0
// is refused naming the field.
TEST(ServerOpenAiCompatTest, EchoWithZeroMaxTokensScoresThePrompt) {
  testing::TestServer server;
  auto c = server.Client();
  const std::vector<int32_t> prompt = {3, 17, 17, 40, 2, 9};
  const testing::HttpReply r = testing::Post(
      *c, "/v1/completions",
      Json{{"prompt", prompt}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 1}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  const Json& choice = j["choices"][0];
  EXPECT_EQ(choice["token_ids"], Json::array());
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 0);
  EXPECT_EQ(j["usage"]["prompt_tokens"], prompt.size());
  const Json lp = choice["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), prompt.size()) << lp.dump();
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  const testing::HttpReply scored = testing::Post(
      *c, "/v1/score",
      Json{{"prompt", {prompt[0]}},
           {"completion", std::vector<int32_t>(prompt.begin() + 1, prompt.end())}}
          .dump());
  ASSERT_EQ(scored.status, 200) << scored.body;
  for (size_t p = 1; p < prompt.size(); ++p) {
    EXPECT_EQ(lp["token_logprobs"][p], scored.json()["token_logprobs"][p - 1]) << p;
  }
  for (const Json& bad : {Json{{"prompt", prompt}, {"max_tokens", 0}},
                          Json{{"prompt", prompt}, {"max_tokens", 0}, {"echo", true},
                               {"stream", true}}}) {
    const testing::HttpReply e = testing::Post(*c, "/v1/completions", bad.dump());
    ASSERT_EQ(e.status, 400) << e.body;
    EXPECT_EQ(e.json()["error"]["param"], "max_tokens") << e.body;
  }
  const testing::HttpReply chat = testing::Post(
      *c, "/v1/chat/completions",
      Json{{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_completion_tokens", 0}}
          .dump());
  ASSERT_EQ(chat.status, 400) << chat.body;
  EXPECT_EQ(chat.json()["error"]["param"], "max_completion_tokens") << chat.body;
}

// With echo, text_offset points into `text`: token i starts where the text of the tokens
// before it ends (a BOS adds no text, nor does SentencePiece's leading space at the start),
// measured with /detokenize (Tokenizer::Decode) of each prefix, BOS and EOS left out as the text
// leaves them out; streamed, the generated tokens' offsets count the echoed prompt too.
TEST(ServerOpenAiCompatTest, EchoTextOffsetsPointIntoTheText) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  auto c = server.Client();
  const Json body = {{"prompt", "Yesterday I"}, {"max_tokens", 6}, {"echo", true},
                     {"logprobs", 0}, {"temperature", 0}, {"ignore_eos", true}};
  const testing::HttpReply r = testing::Post(*c, "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json answer = r.json();
  const Json& choice = answer["choices"][0];
  const std::string text = choice["text"];
  const Json& offsets = choice["logprobs"]["text_offset"];
  const std::vector<int32_t> ids = [&] {
    std::vector<int32_t> v = choice["prompt_token_ids"];
    for (const Json& t : choice["token_ids"]) v.push_back(t.get<int32_t>());
    return v;
  }();
  ASSERT_EQ(offsets.size(), ids.size());
  ASSERT_EQ(ids[0], b.tokenizer->bos_id());
  EXPECT_EQ(offsets[0], 0);
  for (size_t i = 1; i < ids.size(); ++i) {
    // The text leaves out special tokens (skip_special_tokens): BOS, and an EOS generated past
    // ignore_eos; /detokenize would print them.
    std::vector<int32_t> prefix;
    for (size_t k = 0; k < i; ++k) {
      if (ids[k] != b.tokenizer->bos_id() && ids[k] != b.tokenizer->eos_id()) prefix.push_back(ids[k]);
    }
    const testing::HttpReply d =
        testing::Post(*c, "/detokenize", Json{{"tokens", prefix}}.dump());
    ASSERT_EQ(d.status, 200) << d.body;
    const std::string before = d.json()["prompt"];
    EXPECT_EQ(offsets[i].get<size_t>(), before.size()) << i << " '" << before << "'";
    EXPECT_EQ(text.compare(0, before.size(), before), 0) << "'" << text << "' / '" << before << "'";
  }
  // Streamed: the generated tokens' offsets are the same numbers.
  Json sb = body;
  sb["stream"] = true;
  const testing::HttpReply st = testing::Post(*c, "/v1/completions", sb.dump());
  ASSERT_EQ(st.status, 200) << st.body;
  std::vector<size_t> streamed;
  for (const std::string& d : testing::SseData(st.body)) {
    if (d == "[DONE]") break;
    const Json lp = Json::parse(d)["choices"][0]["logprobs"];
    if (lp.is_null()) continue;
    for (const Json& o : lp["text_offset"]) streamed.push_back(o.get<size_t>());
  }
  const size_t prompt_len = choice["prompt_token_ids"].size();
  ASSERT_EQ(streamed.size(), ids.size() - prompt_len);
  for (size_t k = 0; k < streamed.size(); ++k) {
    EXPECT_EQ(streamed[k], offsets[prompt_len + k].get<size_t>()) << k;
  }
}

}  // namespace
}  // namespace detinfer
