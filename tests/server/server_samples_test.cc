// OpenAI `n` on /v1/completions and /v1/chat/completions: choice prompt * n + k equals, bit for
// bit, the single request with sample k's derived seed sent alone to a fresh server; the
// prompt's K/V are computed once; a bad `n` is a 400 naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/sample_group.h"
#include "model/model_test_util.h"
#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;
using testing::ResponseBits;

std::vector<int32_t> PromptIds(size_t n, uint32_t salt) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>((i * 7 + salt * 13) % 61 + 3));
  return ids;
}

// The answer of one request, sent alone to a server of its own.
ResponseBits AloneOnAFreshServer(const std::string& path, const Json& body,
                                 const Transformer* model = nullptr,
                                 const Tokenizer* tok = nullptr) {
  testing::TestServer server({}, {}, model, tok);
  auto client = server.Client();
  const testing::HttpReply r = testing::Post(*client, path, body.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  EXPECT_EQ(j["choices"].size(), 1u);
  return testing::ChoiceBits(j["choices"][0]);
}

TEST(ServerSamplesTest, CompletionChoicesEqualSingleRequestsWithDerivedSeeds) {
  constexpr int kN = 4;
  const std::vector<std::vector<int32_t>> prompts = {PromptIds(40, 1), PromptIds(21, 2)};
  const Json body = {{"prompt", prompts}, {"max_tokens", 12}, {"temperature", 0.9},
                     {"seed", 11},        {"n", kN},          {"logprobs", 1}};
  testing::TestServer server;
  auto client = server.Client();
  const testing::HttpReply r = testing::Post(*client, "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  ASSERT_EQ(j["choices"].size(), prompts.size() * kN);
  int64_t completion_tokens = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<ResponseBits> got;
    for (int k = 0; k < kN; ++k) {
      const Json& choice = j["choices"][p * kN + size_t(k)];
      EXPECT_EQ(choice["index"].get<size_t>(), p * kN + size_t(k));
      completion_tokens += static_cast<int64_t>(choice["token_ids"].size());
      Json single = body;
      single["prompt"] = prompts[p];
      single.erase("n");
      single["seed"] = SampleSeed(11, k);
      got.push_back(testing::ChoiceBits(choice));
      EXPECT_EQ(got.back(), AloneOnAFreshServer("/v1/completions", single))
          << "prompt " << p << " sample " << k;
    }
    for (int a = 0; a < kN; ++a) {
      for (int b = a + 1; b < kN; ++b) EXPECT_NE(got[size_t(a)].tokens, got[size_t(b)].tokens);
    }
  }
  // OpenAI's usage: each prompt once, every choice's completion.
  EXPECT_EQ(j["usage"]["prompt_tokens"].get<int64_t>(), 40 + 21);
  EXPECT_EQ(j["usage"]["completion_tokens"].get<int64_t>(), completion_tokens);
}

// The prompt's K/V are computed once: of the 4 x 40 prompt tokens looked up in the prefix cache,
// samples 1..3 found the prompt's two full blocks (32 tokens) each.
TEST(ServerSamplesTest, APromptsKvIsComputedOnceForItsSamples) {
  testing::TestServer server;
  auto client = server.Client();
  const Json body = {{"prompt", PromptIds(40, 5)}, {"max_tokens", 4}, {"seed", 1}, {"n", 4}};
  ASSERT_EQ(testing::Post(*client, "/v1/completions", body.dump()).status, 200);
  const testing::HttpReply m = testing::Get(*client, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_DOUBLE_EQ(testing::MetricValue(m.body, "detinfer_prefix_cache_hit_rate"),
                   3.0 * 32.0 / (4.0 * 40.0));
}

// A group among other traffic (requests running before and while it runs) keeps its bits.
TEST(ServerSamplesTest, ChoicesAmongOtherTrafficKeepTheirBits) {
  const Json body = {{"prompt", PromptIds(35, 8)}, {"max_tokens", 10}, {"temperature", 1.0},
                     {"seed", 77},                 {"n", 3}};
  testing::TestServer server;
  std::vector<std::thread> traffic;
  for (int t = 0; t < 3; ++t) {
    traffic.emplace_back([&server, t] {
      auto c = server.Client();
      const Json other = {{"prompt", PromptIds(size_t(10 + 20 * t), uint32_t(20 + t))},
                          {"max_tokens", 30},
                          {"temperature", 0.5},
                          {"seed", t},
                          {"n", 2}};
      EXPECT_EQ(testing::Post(*c, "/v1/completions", other.dump()).status, 200);
    });
  }
  auto client = server.Client();
  const testing::HttpReply r = testing::Post(*client, "/v1/completions", body.dump());
  for (std::thread& t : traffic) t.join();
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int k = 0; k < 3; ++k) {
    Json single = body;
    single.erase("n");
    single["seed"] = SampleSeed(77, k);
    EXPECT_EQ(testing::ChoiceBits(j["choices"][size_t(k)]),
              AloneOnAFreshServer("/v1/completions", single))
        << "sample " << k;
  }
}

// Streamed, each chunk names its choice; each choice's chunks give exactly its non-streamed
// answer (tokens, logprob bits, text, fingerprint); one usage chunk counts the prompt once.
void ExpectStreamedChoicesEqualTheAnswer(testing::TestServer& server, const std::string& path,
                                         const Json& body, size_t n) {
  auto client = server.Client();
  const testing::HttpReply whole = testing::Post(*client, path, body.dump());
  ASSERT_EQ(whole.status, 200) << whole.body;
  const Json answer = whole.json();
  ASSERT_EQ(answer["choices"].size(), n);
  Json sb = body;
  sb["stream"] = true;
  sb["stream_options"] = {{"include_usage", true}};
  const testing::HttpReply streamed = testing::Post(*client, path, sb.dump());
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  // Split the stream by choice index into one single-choice stream each.
  std::vector<std::string> per_choice(n);
  int usage_chunks = 0;
  for (const std::string& d : testing::SseData(streamed.body)) {
    if (d == "[DONE]") break;
    const Json j = Json::parse(d);
    ASSERT_FALSE(j.contains("error")) << d;
    if (j["choices"].empty()) {
      ++usage_chunks;
      EXPECT_EQ(j["usage"]["prompt_tokens"], answer["usage"]["prompt_tokens"]);
      EXPECT_EQ(j["usage"]["completion_tokens"], answer["usage"]["completion_tokens"]);
      continue;
    }
    const size_t index = j["choices"][0]["index"].get<size_t>();
    ASSERT_LT(index, n);
    per_choice[index] += "data: " + d + "\n\n";
  }
  EXPECT_EQ(usage_chunks, 1);
  for (size_t k = 0; k < n; ++k) {
    EXPECT_EQ(testing::StreamBits(per_choice[k]), testing::ChoiceBits(answer["choices"][k]))
        << path << " choice " << k;
  }
}

TEST(ServerSamplesTest, StreamedCompletionChoicesEqualTheAnswerChoices) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  ExpectStreamedChoicesEqualTheAnswer(server, "/v1/completions",
                                      {{"prompt", "Yesterday I"},
                                       {"max_tokens", 12},
                                       {"temperature", 1.0},
                                       {"seed", 9},
                                       {"n", 3},
                                       {"logprobs", 1}},
                                      3);
}

// A list of prompts streams too (OpenAI's completions): choice i * n + k is sample k of prompt i,
// each equal to its non-streamed answer, with echo; the usage chunk counts each prompt once.
TEST(ServerSamplesTest, StreamedPromptListsEqualTheAnswerChoices) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  ExpectStreamedChoicesEqualTheAnswer(server, "/v1/completions",
                                      {{"prompt", {"Yesterday I", "Every day he", "Tomorrow we"}},
                                       {"max_tokens", 10},
                                       {"temperature", 0.8},
                                       {"seed", 4},
                                       {"n", 2},
                                       {"echo", true},
                                       {"logprobs", 2}},
                                      6);
}

// Chat on stories260K: n choices equal single requests; streamed, they equal the answer.
TEST(ServerSamplesTest, Stories260KChatChoicesEqualSingleRequests) {
  DETINFER_REQUIRE_STORIES();
  auto b = LoadModelBundle(testing::StoriesDir() + "/gguf/stories260K-f32.gguf");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const Json body = {{"messages", {{{"role", "system"}, {"content", "Tell a story."}},
                                   {{"role", "user"}, {"content", "Once upon a time"}}}},
                     {"max_tokens", 16},
                     {"temperature", 0.9},
                     {"seed", 4},
                     {"n", 3},
                     {"logprobs", true}};
  testing::TestServer server({}, {}, b->model.get(), b->tokenizer.get());
  auto client = server.Client();
  const testing::HttpReply r = testing::Post(*client, "/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(j["choices"][size_t(k)]["index"].get<int>(), k);
    Json single = body;
    single.erase("n");
    single["seed"] = SampleSeed(4, k);
    EXPECT_EQ(testing::ChoiceBits(j["choices"][size_t(k)]),
              AloneOnAFreshServer("/v1/chat/completions", single, b->model.get(),
                                  b->tokenizer.get()))
        << "sample " << k;
  }
  ExpectStreamedChoicesEqualTheAnswer(server, "/v1/chat/completions", body, 3);
}

TEST(ServerSamplesTest, BadNIsA400NamingN) {
  testing::TestServer server;
  auto client = server.Client();
  const Json base = {{"prompt", PromptIds(5, 1)}, {"max_tokens", 2}};
  for (const Json& n : {Json(0), Json(-1), Json(kMaxSamplesPerPrompt + 1), Json(2.5), Json("2")}) {
    Json body = base;
    body["n"] = n;
    const testing::HttpReply r = testing::Post(*client, "/v1/completions", body.dump());
    EXPECT_EQ(r.status, 400) << n.dump();
    EXPECT_EQ(r.json()["error"]["param"], "n") << r.body;
  }
  // More choices than the server runs and queues (96 by default): a 400 now, not a 429 forever.
  Json many = base;
  many["n"] = kMaxSamplesPerPrompt;
  testing::HttpReply r = testing::Post(*client, "/v1/completions", many.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "n") << r.body;
  Json best = base;
  best["best_of"] = 2;
  r = testing::Post(*client, "/v1/completions", best.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "best_of") << r.body;
  // n = 1 is the plain request.
  Json one = base;
  one["n"] = 1;
  r = testing::Post(*client, "/v1/completions", one.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(testing::ChoiceBits(r.json()["choices"][0]),
            AloneOnAFreshServer("/v1/completions", base));
}

}  // namespace
}  // namespace detinfer
