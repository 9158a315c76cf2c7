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

}  // namespace
}  // namespace detinfer
