// The server against what OpenAI's API (and vLLM, where OpenAI says nothing) answers: shapes
// and edge cases of issue #20, each checked against the documented behaviour, not our output.
#include <gtest/gtest.h>

#include <string>
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

}  // namespace
}  // namespace detinfer
