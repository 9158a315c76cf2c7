// End to end over real HTTP on loopback: a request's tokens, logprob bits and fingerprint are
// the same whether it is served alone or while 32 other clients send random requests, streamed
// or not, with or without penalties and min_tokens; they equal the in-process engine's; and
// /v1/score gives generation's logprobs.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/schedule_id.h"
#include "model/model_bundle.h"
#include "model/model_test_util.h"
#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::ResponseBits;
using testing::Json;

struct Fixed {
  std::vector<int32_t> prompt;
  int max_tokens;
  float temperature;
  uint64_t seed;
  PenaltyParams penalties;  // odd requests: all three (engine/penalties.h), and min_tokens
  int min_tokens = 0;
};

std::vector<Fixed> FixedRequests() {
  std::vector<Fixed> out;
  std::mt19937_64 rng(7);
  const int lengths[] = {1, 5, 17, 40, 70, 130};
  for (int i = 0; i < 6; ++i) {
    Fixed f;
    for (int k = 0; k < lengths[i]; ++k) f.prompt.push_back(int32_t(rng() % 64));
    f.max_tokens = 8 + 4 * i;
    f.temperature = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? 0.8f : 1.3f);
    f.seed = 100 + uint64_t(i);
    if (i % 2 == 1) {
      f.penalties = {1.15f, 0.25f, 0.5f};
      f.min_tokens = 3;
    }
    out.push_back(f);
  }
  return out;
}

std::string Body(const Fixed& f, bool stream) {
  return Json{{"prompt", f.prompt},        {"max_tokens", f.max_tokens},
              {"temperature", f.temperature}, {"top_p", 0.9},
              {"seed", f.seed},            {"logprobs", 3},
              {"stream", stream},          {"repetition_penalty", f.penalties.repetition},
              {"frequency_penalty", f.penalties.frequency},
              {"presence_penalty", f.penalties.presence},
              {"min_tokens", f.min_tokens}}
      .dump();
}

ResponseBits Send(httplib::Client& c, const Fixed& f, bool stream) {
  const testing::HttpReply r = testing::Post(c, "/v1/completions", Body(f, stream));
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return {};
  return stream ? testing::StreamBits(r.body) : testing::ChoiceBits(r.json()["choices"][0]);
}

// A random request of another client: any length, sampling, streaming or not.
std::string RandomBody(std::mt19937_64& rng) {
  std::vector<int32_t> prompt(1 + rng() % 100);
  for (auto& t : prompt) t = int32_t(rng() % 64);
  Json j = {{"prompt", prompt},
            {"max_tokens", 1 + int(rng() % 30)},
            {"temperature", double(rng() % 4) * 0.5},
            {"top_k", int(rng() % 3) * 10},
            {"seed", rng() % 1000},
            {"stream", rng() % 2 == 0}};
  if (rng() % 2) j["logprobs"] = int(rng() % 4);
  if (rng() % 3 == 0) j["repetition_penalty"] = 1.0 + double(rng() % 4) * 0.1;
  if (rng() % 3 == 0) j["presence_penalty"] = double(rng() % 5) * 0.25;
  return j.dump();
}

TEST(ServerDeterminismTest, ResponsesUnderLoadEqualResponsesAloneBitForBit) {
  testing::TestServer server;
  auto client = server.Client();
  const std::vector<Fixed> fixed = FixedRequests();

  // Alone: one request at a time on an idle server.
  std::vector<ResponseBits> alone, alone_stream;
  for (const Fixed& f : fixed) {
    alone.push_back(Send(*client, f, false));
    alone_stream.push_back(Send(*client, f, true));
  }

  // The independent reference: the engine in-process, one request per engine, no HTTP.
  for (size_t i = 0; i < fixed.size(); ++i) {
    auto e = Engine::Create(testing::ServerTestModel(), KernelContext{}, EngineOptions{});
    ASSERT_TRUE(e.ok());
    Request r;
    r.id = "ref";
    r.prompt = fixed[i].prompt;
    r.max_new_tokens = fixed[i].max_tokens;
    r.sampling = {fixed[i].temperature, 0, 0.9f, 0.0f, fixed[i].seed, fixed[i].penalties};
    r.min_tokens = fixed[i].min_tokens;
    r.top_logprobs = 3;
    const RequestResult ref = (*e)->Generate({r})[0];
    ASSERT_TRUE(ref.status.ok());
    EXPECT_EQ(alone[i].tokens, ref.tokens) << i;
    EXPECT_EQ(alone[i].fingerprint, Hex64(ref.fingerprint)) << i;
    ASSERT_EQ(alone[i].logprob_bits.size(), ref.logprobs.size());
    for (size_t k = 0; k < ref.logprobs.size(); ++k) {
      uint32_t want;
      std::memcpy(&want, &ref.logprobs[k], sizeof want);
      EXPECT_EQ(alone[i].logprob_bits[k], want) << i << " token " << k;
    }
    EXPECT_EQ(alone_stream[i], alone[i]) << "streamed differs from non-streamed, request " << i;
  }

  // Under load: 32 clients send random requests while the fixed ones are sent again.
  std::atomic<bool> stop{false};
  std::atomic<int> served{0}, failed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 32; ++t) {
    load.emplace_back([&, t] {
      auto c = server.Client();
      std::mt19937_64 rng(1000 + uint64_t(t));
      while (!stop.load()) {
        const testing::HttpReply r = testing::Post(*c, "/v1/completions", RandomBody(rng));
        (r.status == 200 ? served : failed).fetch_add(1);
      }
    });
  }
  while (served.load() < 32) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int before = served.load();
  std::vector<ResponseBits> loaded(fixed.size()), loaded_stream(fixed.size());
  std::vector<std::thread> senders;
  for (size_t i = 0; i < fixed.size(); ++i) {
    senders.emplace_back([&, i] {
      auto c = server.Client();
      loaded_stream[i] = Send(*c, fixed[i], true);
      loaded[i] = Send(*c, fixed[i], false);
    });
  }
  for (auto& s : senders) s.join();
  const int during = served.load();
  stop.store(true);
  for (auto& l : load) l.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(during, before);  // the load really ran alongside the fixed requests
  for (size_t i = 0; i < fixed.size(); ++i) {
    EXPECT_EQ(loaded[i], alone[i]) << "request " << i << " changed under load";
    EXPECT_EQ(loaded_stream[i], alone[i]) << "streamed request " << i << " changed under load";
  }
}

TEST(ServerDeterminismTest, ScoreGivesTheLogprobsGenerationReported) {
  testing::TestServer server;
  auto client = server.Client();
  for (const Fixed& f : FixedRequests()) {
    const ResponseBits gen = Send(*client, f, false);
    const testing::HttpReply s = testing::Post(
        *client, "/v1/score", Json{{"prompt", f.prompt}, {"completion", gen.tokens}}.dump());
    ASSERT_EQ(s.status, 200) << s.body;
    const Json j = s.json();
    std::vector<uint32_t> bits;
    for (const auto& v : j["token_logprobs"]) bits.push_back(testing::FloatBits(v));
    EXPECT_EQ(bits, gen.logprob_bits);
    EXPECT_EQ(j["fingerprint"].get<std::string>(), gen.fingerprint);
  }
}

TEST(ServerDeterminismTest, ChatWithoutATokenizerSaysSo) {
  testing::TestServer server;
  auto client = server.Client();
  const testing::HttpReply r = testing::Post(
      *client, "/v1/chat/completions",
      R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("no tokenizer"), std::string::npos) << r.body;
}

// With a real tokenizer (stories260K): text prompts, chat and stop strings, streamed and not.
TEST(ServerDeterminismTest, TextAndChatStreamTheSameTokensAndTextAsTheyAnswer) {
  DETINFER_REQUIRE_STORIES();
  auto b = LoadModelBundle(testing::StoriesDir() + "/gguf/stories260K-f32.gguf");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  testing::TestServer server({}, {}, b->model.get(), b->tokenizer.get());
  auto client = server.Client();
  const Json chat = {{"messages", {{{"role", "system"}, {"content", "Tell a story."}},
                                   {{"role", "user"}, {"content", "Once upon a time"}}}},
                     {"max_tokens", 24},
                     {"temperature", 0.8},
                     {"seed", 3},
                     {"logprobs", true},
                     {"top_logprobs", 2}};
  const Json text = {{"prompt", "Once upon a time there was"},
                     {"max_tokens", 40},
                     {"temperature", 0.7},
                     {"seed", 11},
                     {"stop", {"."}},
                     {"logprobs", 1}};
  for (const auto& [path, body] : {std::pair{"/v1/chat/completions", chat},
                                   std::pair{"/v1/completions", text}}) {
    const testing::HttpReply once = testing::Post(*client, path, body.dump());
    ASSERT_EQ(once.status, 200) << once.body;
    const Json j = once.json();
    const ResponseBits whole = testing::ChoiceBits(j["choices"][0]);
    EXPECT_FALSE(whole.text.empty());
    EXPECT_EQ(j["choices"][0]["logprobs"].is_null(), false);
    Json sb = body;
    sb["stream"] = true;
    const testing::HttpReply streamed = testing::Post(*client, path, sb.dump());
    ASSERT_EQ(streamed.status, 200) << streamed.body;
    EXPECT_EQ(testing::StreamBits(streamed.body), whole) << path;
  }
  // The stop string cut the text before it, as the engine reports it.
  const Json j = testing::Post(*client, "/v1/completions", text.dump()).json();
  if (j["choices"][0]["finish_reason"] == "stop") {
    EXPECT_EQ(j["choices"][0]["text"].get<std::string>().find('.'), std::string::npos);
  }
}

// A request that ends at the end-of-sequence token reports the id but not its text: neither
// the answer nor the stream contains "</s>".
TEST(ServerDeterminismTest, EndOfSequenceTextIsNotPartOfTheAnswer) {
  const ModelBundle& b = testing::VerbsModel();
  ASSERT_NE(b.tokenizer, nullptr);
  const int32_t eos = b.tokenizer->eos_id();
  ASSERT_EQ(eos, 3);
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  auto client = server.Client();
  int ended_at_eos = 0;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    const Json chat = {{"messages", Json::array({{{"role", "user"}, {"content", "Yesterday I"}}})},
                       {"max_tokens", 40},
                       {"seed", seed}};
    const Json text = {{"prompt", "Yesterday I"}, {"max_tokens", 40}, {"seed", seed}};
    for (const auto& [path, body] : {std::pair{"/v1/chat/completions", chat},
                                     std::pair{"/v1/completions", text}}) {
      const testing::HttpReply once = testing::Post(*client, path, body.dump());
      ASSERT_EQ(once.status, 200) << once.body;
      const Json j = once.json();
      const Json& choice = j["choices"][0];
      const ResponseBits whole = testing::ChoiceBits(choice);
      EXPECT_EQ(whole.text.find("</s>"), std::string::npos) << path << ": " << once.body;
      if (!whole.tokens.empty() && whole.tokens.back() == eos) {
        ++ended_at_eos;
        EXPECT_EQ(choice["finish_reason"], "stop") << once.body;
      }
      Json sb = body;
      sb["stream"] = true;
      const testing::HttpReply streamed = testing::Post(*client, path, sb.dump());
      ASSERT_EQ(streamed.status, 200) << streamed.body;
      EXPECT_EQ(streamed.body.find("</s>"), std::string::npos) << path << ": " << streamed.body;
      EXPECT_EQ(testing::StreamBits(streamed.body), whole) << path;
    }
  }
  EXPECT_GT(ended_at_eos, 0) << "no request ended at the end-of-sequence token";
}

// Streamed text is held back while it could still be the start of a stop string (or is an
// incomplete character), so fewer events carry text than tokens arrive, but the concatenated
// deltas equal the non-streamed text exactly, cut before the stop string.
TEST(ServerDeterminismTest, StreamedTextWithStopStringsEqualsTheAnswer) {
  const ModelBundle& b = testing::VerbsModel();
  testing::TestServer server({}, {}, b.model.get(), b.tokenizer.get());
  auto client = server.Client();
  const std::vector<std::vector<std::string>> stops = {
      {" ."}, {"the c", " !"}, {" in the"}, {"ed ", "zzz"}};
  int stopped_by_string = 0, held = 0;  // held: chunks whose tokens' text was held back
  for (uint64_t seed = 0; seed < 6; ++seed) {
    for (const auto& stop : stops) {
      const Json body = {{"prompt", "Yesterday I"},
                         {"max_tokens", 40},
                         {"temperature", 1.2},
                         {"seed", seed},
                         {"stop", stop},
                         {"ignore_eos", true}};
      const testing::HttpReply once = testing::Post(*client, "/v1/completions", body.dump());
      ASSERT_EQ(once.status, 200) << once.body;
      const Json j = once.json();
      const Json& choice = j["choices"][0];
      const ResponseBits whole = testing::ChoiceBits(choice);
      for (const std::string& s : stop) {
        EXPECT_EQ(whole.text.find(s), std::string::npos) << s << " in " << once.body;
      }
      if (choice["finish_reason"] == "stop") ++stopped_by_string;
      Json sb = body;
      sb["stream"] = true;
      const testing::HttpReply streamed = testing::Post(*client, "/v1/completions", sb.dump());
      ASSERT_EQ(streamed.status, 200) << streamed.body;
      EXPECT_EQ(testing::StreamBits(streamed.body), whole) << body.dump();
      for (const std::string& d : testing::SseData(streamed.body)) {
        if (d == "[DONE]") continue;
        const Json c = Json::parse(d)["choices"];
        if (!c.empty() && !c[0]["token_ids"].empty() && c[0]["text"] == "") ++held;
      }
    }
  }
  EXPECT_GT(stopped_by_string, 0) << "no request was cut by a stop string";
  EXPECT_GT(held, 0) << "no token's text was held back";
}

}  // namespace
}  // namespace detinfer
