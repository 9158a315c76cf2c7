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

}  // namespace
}  // namespace detinfer
