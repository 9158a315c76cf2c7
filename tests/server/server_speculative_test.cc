// The server with speculative decoding on (serve --speculative lookup): every response has the
// ids, logprob bits, text and fingerprint of a plain server, streamed or not, alone or among
// other clients; /metrics counts the guesses, and each response its own.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;
using testing::ResponseBits;

std::string Body(const std::vector<int32_t>& prompt, float temperature, uint64_t seed, bool stream) {
  return Json{{"prompt", prompt}, {"max_tokens", 40},   {"temperature", temperature},
              {"seed", seed},     {"logprobs", 2},      {"stream", stream}}
      .dump();
}

ResponseBits Send(httplib::Client& c, const std::string& body, bool stream) {
  const testing::HttpReply r = testing::Post(c, "/v1/completions", body);
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return {};
  return stream ? testing::StreamBits(r.body) : testing::ChoiceBits(r.json()["choices"][0]);
}

TEST(ServerSpeculativeTest, LookupServesPlainBitsAndCountsGuesses) {
  EngineOptions spec;
  spec.speculative.source = DraftSource::kLookup;
  spec.speculative.max_guesses = 6;
  testing::TestServer plain_srv, spec_srv({}, spec);
  auto plain = plain_srv.Client();
  auto c = spec_srv.Client();
  std::mt19937_64 rng(17);
  std::vector<std::string> bodies;
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> prompt;
    for (int k = 0; k < 3 + 11 * i; ++k) prompt.push_back(int32_t(rng() % 64));
    // Half of them say their prompt twice: lookup finds it.
    if (i % 2) prompt.insert(prompt.end(), prompt.begin(), prompt.end());
    bodies.push_back(Body(prompt, i % 3 ? 0.8f : 0.0f, 40 + uint64_t(i), false));
  }
  // Other clients at the same time, so speculating requests share steps with them.
  std::vector<std::thread> others;
  for (int t = 0; t < 3; ++t) {
    others.emplace_back([&, t] {
      auto oc = spec_srv.Client();
      for (int i = 0; i < 4; ++i) Send(*oc, bodies[size_t(t + i) % bodies.size()], i % 2);
    });
  }
  for (const std::string& b : bodies) {
    const ResponseBits want = Send(*plain, b, false);
    for (bool stream : {false, true}) {
      Json j = Json::parse(b);
      j["stream"] = stream;
      EXPECT_EQ(Send(*c, j.dump(), stream), want) << j.dump();
    }
  }
  for (std::thread& t : others) t.join();
  const std::string metrics = testing::Get(*c, "/metrics").body;
  const double proposed = testing::MetricValue(metrics, "detinfer_speculative_proposed_tokens_total");
  const double accepted = testing::MetricValue(metrics, "detinfer_speculative_accepted_tokens_total");
  EXPECT_GT(proposed, 0) << metrics;
  EXPECT_GT(accepted, 0) << metrics;
  EXPECT_LE(accepted, proposed);
  EXPECT_GT(testing::MetricValue(metrics, "detinfer_speculative_verify_passes_total"), 0);
  EXPECT_EQ(testing::MetricValue(testing::Get(*plain, "/metrics").body,
                                 "detinfer_speculative_proposed_tokens_total"), 0);
}

// Each response reports its own guesses: per choice, and summed in usage as OpenAI reports
// predicted outputs. The responses' counts add up to the /metrics counters of a server that
// answered only them; a plain server reports none.
TEST(ServerSpeculativeTest, EachResponseReportsItsOwnGuesses) {
  EngineOptions spec;
  spec.speculative.source = DraftSource::kLookup;
  testing::TestServer plain_srv, spec_srv({}, spec);
  auto plain = plain_srv.Client();
  auto c = spec_srv.Client();
  // A prompt said twice (lookup continues the first time), and a list of two prompts.
  std::vector<int32_t> twice = {5, 9, 2, 44, 17, 3, 30, 12, 8, 21};
  twice.insert(twice.end(), twice.begin(), twice.end());
  const std::vector<std::string> bodies = {
      Json{{"prompt", twice}, {"max_tokens", 24}, {"temperature", 0}}.dump(),
      Json{{"prompt", Json::array({twice, Json::array({7, 7, 7, 7, 7, 7})})},
           {"max_tokens", 16}, {"temperature", 0.7}, {"seed", 3}}.dump()};
  int64_t passes = 0, proposed = 0, accepted = 0;
  for (const std::string& body : bodies) {
    const Json j = testing::Post(*c, "/v1/completions", body).json();
    ASSERT_TRUE(j.contains("usage")) << j.dump();
    int64_t choice_proposed = 0, choice_accepted = 0;
    for (const Json& choice : j["choices"]) {
      ASSERT_TRUE(choice.contains("speculative")) << choice.dump();
      const Json& s = choice["speculative"];
      EXPECT_GT(s["verify_passes"].get<int64_t>(), 0);
      EXPECT_GE(s["proposed"].get<int64_t>(), s["verify_passes"].get<int64_t>());
      EXPECT_LE(s["accepted"].get<int64_t>(), s["proposed"].get<int64_t>());
      passes += s["verify_passes"].get<int64_t>();
      choice_proposed += s["proposed"].get<int64_t>();
      choice_accepted += s["accepted"].get<int64_t>();
    }
    const Json& d = j["usage"]["completion_tokens_details"];
    EXPECT_EQ(d["accepted_prediction_tokens"].get<int64_t>(), choice_accepted) << j.dump();
    EXPECT_EQ(d["rejected_prediction_tokens"].get<int64_t>(), choice_proposed - choice_accepted);
    proposed += choice_proposed;
    accepted += choice_accepted;
    // The plain server: the same choices' bits, no guesses.
    const Json p = testing::Post(*plain, "/v1/completions", body).json();
    for (size_t i = 0; i < p["choices"].size(); ++i) {
      EXPECT_EQ(p["choices"][i]["token_ids"], j["choices"][i]["token_ids"]);
      EXPECT_EQ(p["choices"][i]["fingerprint"], j["choices"][i]["fingerprint"]);
      EXPECT_FALSE(p["choices"][i].contains("speculative"));
    }
    EXPECT_EQ(p["usage"]["completion_tokens_details"]["accepted_prediction_tokens"], 0);
    EXPECT_EQ(p["usage"]["completion_tokens_details"]["rejected_prediction_tokens"], 0);
  }
  EXPECT_GT(accepted, 0) << "the repeated prompt should be copied";
  const std::string metrics = testing::Get(*c, "/metrics").body;
  EXPECT_EQ(testing::MetricValue(metrics, "detinfer_speculative_verify_passes_total"), double(passes));
  EXPECT_EQ(testing::MetricValue(metrics, "detinfer_speculative_proposed_tokens_total"), double(proposed));
  EXPECT_EQ(testing::MetricValue(metrics, "detinfer_speculative_accepted_tokens_total"), double(accepted));
}

}  // namespace
}  // namespace detinfer
