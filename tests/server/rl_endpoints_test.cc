// SGLang's native endpoints for RL clients (docs/rl.md, "Server endpoints"), over real HTTP:
// after a weight update the server answers as a fresh server started on the new weights, bit
// for bit; a refused update changes nothing; pause/continue; /generate equals /v1/completions.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>
#include <thread>

#include "core/storage_format.h"
#include "engine/schedule_id.h"
#include "model/arch.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/tensor_roles.h"
#include "server/rl_request.h"
#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;

constexpr char kRlAdminKey[] = "rl-admin-secret";

std::string RlBase64(const uint8_t* p, size_t n) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b = (uint32_t(p[i]) << 16) | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0u) |
                       (i + 2 < n ? uint32_t(p[i + 2]) : 0u);
    out += kAlphabet[(b >> 18) & 63];
    out += kAlphabet[(b >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(b >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[b & 63] : '=';
  }
  return out;
}

ModelWeights RlWeights(uint64_t seed) {
  auto w = InitRandomModel(testing::ServerTestConfig(), seed, DType::kF32);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return std::move(w).value();
}

Transformer RlModelFrom(const std::string& dir) {
  auto w = LoadModel(dir);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  auto t = Transformer::Create(std::move(w).value());
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

// Every tensor of `w` as /update_weights_from_tensor takes it.
Json RlTensorList(const ModelWeights& w) {
  Json list = Json::array();
  ModelWeights& mw = const_cast<ModelWeights&>(w);
  for (const auto& [role, layer] : ListFileRoles(w.config)) {
    const TensorView& v = *MutableViewOf(mw, role, layer);
    list.push_back({{"name", HfTensorName(w.config.arch, role, layer)},
                    {"dtype", std::string(DTypeName(v.dtype))},
                    {"shape", std::vector<int64_t>(v.shape, v.shape + v.rank)},
                    {"data", RlBase64(static_cast<const uint8_t*>(v.data),
                                      StorageBytes(v.dtype, v.numel()))}});
  }
  return list;
}

httplib::Headers Admin(const std::string& key = kRlAdminKey) {
  return {{"Authorization", "Bearer " + key}};
}

// Two weight sets written as `detinfer init` writes a model, the server under test on the
// first (updatable), and what a fresh server on the second answers.
class RlEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    weights_a_ = RlWeights(101);
    weights_b_ = RlWeights(202);
    ASSERT_TRUE(WriteHuggingFace(weights_a_, dir_a_.path()).ok());
    ASSERT_TRUE(WriteHuggingFace(weights_b_, dir_b_.path()).ok());
    served_ = std::make_unique<Transformer>(RlModelFrom(dir_a_.path()));
    fresh_b_ = std::make_unique<Transformer>(RlModelFrom(dir_b_.path()));
    server_ = Start(kRlAdminKey);
  }

  std::unique_ptr<server::HttpServer> Start(const std::string& admin_key) {
    server::ServerOptions o;
    o.port = 0;
    o.model_name = "test-model";
    o.admin_key = admin_key;
    server::ServedModel m;
    m.updatable_model = served_.get();
    m.schedule_inputs = inputs_;
    m.schedule_id = ScheduleId(inputs_);
    EngineOptions eo;
    auto s = server::HttpServer::Create(m, KernelContext{}, eo, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE((*s)->Start().ok());
    return std::move(s).value();
  }

  static std::unique_ptr<httplib::Client> ClientOf(int port) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_read_timeout(60, 0);
    return c;
  }
  std::unique_ptr<httplib::Client> Client() const { return ClientOf(server_->port()); }

  // The answers compared before and after updates: sampled and greedy, with logprobs.
  static std::vector<std::string> Answers(httplib::Client& c) {
    std::vector<std::string> out;
    for (const char* body :
         {R"({"prompt": [1, 2, 3, 4, 5], "max_tokens": 12, "temperature": 0.8, "seed": 7,
              "logprobs": 0})",
          R"({"prompt": [9, 8, 7], "max_tokens": 10, "temperature": 0, "n": 2})"}) {
      const testing::HttpReply r = testing::Post(c, "/v1/completions", body);
      EXPECT_EQ(r.status, 200) << r.body;
      const Json j = r.json();
      for (const Json& choice : j["choices"]) {
        const testing::ResponseBits b = testing::ChoiceBits(choice);
        std::string s;
        for (const int32_t t : b.tokens) s += std::to_string(t) + ",";
        // The logprobs as sent (their text) and as bits, and the fingerprint.
        s += "|" + choice["token_logprobs"].dump() + "|";
        for (const uint32_t bits : b.logprob_bits) s += std::to_string(bits) + ",";
        s += "|" + b.fingerprint;
        out.push_back(s);
      }
    }
    return out;
  }

  std::vector<std::string> FreshBAnswers() {
    testing::TestServer fresh({}, {}, fresh_b_.get());
    return Answers(*fresh.Client());
  }

  static Json WeightVersion(httplib::Client& c) {
    const testing::HttpReply r = testing::Get(c, "/get_weight_version");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  testing::TempDir dir_a_, dir_b_;
  ModelWeights weights_a_, weights_b_;
  std::unique_ptr<Transformer> served_, fresh_b_;
  ScheduleInputs inputs_{Isa::kScalar, DType::kF32, 0x1234, 0x5678, 0};
  std::unique_ptr<server::HttpServer> server_;
};

TEST_F(RlEndpointsTest, UpdateFromDiskAnswersAsAFreshServerOnTheNewWeights) {
  auto c = Client();
  const std::vector<std::string> before = Answers(*c);
  const Json v0 = WeightVersion(*c);
  EXPECT_EQ(v0["weight_version"]["counter"], 0);
  EXPECT_EQ(v0["schedule_id"], ScheduleId(inputs_));

  const testing::HttpReply r = testing::Post(
      *c, "/update_weights_from_disk", Json{{"model_path", dir_b_.path()}}.dump(), Admin());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["success"], true);
  EXPECT_EQ(r.json()["weight_version"]["counter"], 1);

  const std::vector<std::string> after = Answers(*c);
  EXPECT_EQ(after, FreshBAnswers());
  EXPECT_NE(after, before);
  // The version follows: counter 1, the new weights' hash, and the schedule id takes it.
  const Json v1 = WeightVersion(*c);
  EXPECT_EQ(v1["weight_version"]["counter"], 1);
  EXPECT_EQ(v1["weight_version"]["hash"], Hex64(fresh_b_->weight_hash()));
  ScheduleInputs with_weights = inputs_;
  with_weights.weight_hash = fresh_b_->weight_hash();
  EXPECT_EQ(v1["schedule_id"], ScheduleId(with_weights));
  // Every response says which weights computed it.
  const Json j = testing::Post(*c, "/v1/completions", R"({"prompt": [1, 2], "max_tokens": 2})").json();
  EXPECT_EQ(j["system_fingerprint"], ScheduleId(with_weights));
  EXPECT_EQ(j["weight_version"]["counter"], 1);
  EXPECT_EQ(j["choices"][0]["weight_version"]["hash"], Hex64(fresh_b_->weight_hash()));
}

TEST_F(RlEndpointsTest, UpdateFromTensorAnswersAsAFreshServerOnTheNewWeights) {
  auto c = Client();
  const std::vector<std::string> before = Answers(*c);
  const Json body = {{"tensors", RlTensorList(weights_b_)}};
  const testing::HttpReply r =
      testing::Post(*c, "/update_weights_from_tensor", body.dump(), Admin());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["weight_version"]["counter"], 1);
  const std::vector<std::string> after = Answers(*c);
  EXPECT_EQ(after, FreshBAnswers());
  EXPECT_NE(after, before);
  EXPECT_EQ(WeightVersion(*c)["weight_version"]["hash"], Hex64(fresh_b_->weight_hash()));
}

TEST_F(RlEndpointsTest, RefusedUpdatesNameTheProblemAndTheOldWeightsKeepServing) {
  auto c = Client();
  const std::vector<std::string> before = Answers(*c);
  const Json good = RlTensorList(weights_b_);
  struct RlBadUpdate {
    std::string what, path, body;
    httplib::Headers headers;
    int status;
    std::string must_say;
  };
  Json unknown = good;
  unknown[0]["name"] = "model.layers.7.self_attn.q_proj.weight";
  Json wrong_shape = good;
  const std::string shaped = wrong_shape[1]["name"];
  wrong_shape[1]["shape"] = {7, 3};
  Json wrong_dtype = good;
  const std::string typed = wrong_dtype[2]["name"];
  wrong_dtype[2]["dtype"] = "bf16";
  Json bad_base64 = good;
  bad_base64[0]["data"] = "not*base64";
  const std::string all = Json{{"tensors", good}}.dump();
  const std::vector<RlBadUpdate> cases = {
      {"unknown name", "/update_weights_from_tensor", Json{{"tensors", unknown}}.dump(), Admin(),
       400, "model.layers.7.self_attn.q_proj.weight"},
      {"wrong shape", "/update_weights_from_tensor", Json{{"tensors", wrong_shape}}.dump(),
       Admin(), 400, shaped},
      {"dtype mismatch", "/update_weights_from_tensor", Json{{"tensors", wrong_dtype}}.dump(),
       Admin(), 400, typed},
      {"bad base64", "/update_weights_from_tensor", Json{{"tensors", bad_base64}}.dump(), Admin(),
       400, "tensors[0].data"},
      {"no tensors", "/update_weights_from_tensor", "{}", Admin(), 400, "'tensors' is required"},
      {"missing admin key", "/update_weights_from_tensor", all, {}, 401, "admin key"},
      {"wrong admin key", "/update_weights_from_tensor", all, Admin("guess"), 401, "admin key"},
      {"missing file", "/update_weights_from_disk",
       Json{{"model_path", dir_a_.path() + "/nowhere"}}.dump(), Admin(), 400, "nowhere"},
      {"no model_path", "/update_weights_from_disk", "{}", Admin(), 400, "model_path"},
      {"pause without key", "/pause_generation", R"({"mode": "abort"})", {}, 401, "admin key"},
      {"bad pause mode", "/pause_generation", R"({"mode": "later"})", Admin(), 400, "later"},
  };
  for (const RlBadUpdate& k : cases) {
    const testing::HttpReply r = testing::Post(*c, k.path, k.body, k.headers);
    EXPECT_EQ(r.status, k.status) << k.what << ": " << r.body;
    EXPECT_NE(r.body.find(k.must_say), std::string::npos) << k.what << ": " << r.body;
    EXPECT_EQ(WeightVersion(*c)["weight_version"]["counter"], 0) << k.what;
    EXPECT_FALSE(WeightVersion(*c)["paused"].get<bool>()) << k.what;
  }
  EXPECT_EQ(Answers(*c), before);
}

TEST_F(RlEndpointsTest, AnUpdateWhilePausedServesTheNewWeightsAfterContinue) {
  auto c = Client();
  ASSERT_EQ(testing::Post(*c, "/pause_generation", R"({"mode": "retract"})", Admin()).status, 200);
  // A request sent while paused waits for /continue_generation.
  auto waiting = std::async(std::launch::async, [port = server_->port()] {
    auto wc = ClientOf(port);
    return testing::Post(*wc, "/generate",
                         R"({"input_ids": [1, 2, 3], "sampling_params": {"max_new_tokens": 3}})");
  });
  const testing::HttpReply r = testing::Post(
      *c, "/update_weights_from_disk", Json{{"model_path", dir_b_.path()}}.dump(), Admin());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["paused"], true);  // an update does not resume
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  ASSERT_EQ(testing::Post(*c, "/continue_generation", "", Admin()).status, 200);
  const testing::HttpReply done = waiting.get();
  ASSERT_EQ(done.status, 200) << done.body;
  // It ran entirely under the new weights.
  EXPECT_EQ(done.json()["meta_info"]["weight_version"]["counter"], 1);
  EXPECT_FALSE(done.json()["meta_info"].contains("mixed_weights"));
  EXPECT_EQ(Answers(*c), FreshBAnswers());
}

TEST_F(RlEndpointsTest, GenerateAndTheVersionNeedTheApiKeyTheAdminEndpointsTheAdminKey) {
  server::ServerOptions o;
  o.port = 0;
  o.api_key = "user-key";
  o.admin_key = kRlAdminKey;
  server::ServedModel m;
  m.updatable_model = served_.get();
  m.schedule_inputs = inputs_;
  auto s = server::HttpServer::Create(m, KernelContext{}, {}, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->Start().ok());
  auto c = ClientOf((*s)->port());
  const std::string gen = R"({"input_ids": [1, 2], "sampling_params": {"max_new_tokens": 2}})";
  EXPECT_EQ(testing::Post(*c, "/generate", gen).status, 401);
  EXPECT_EQ(testing::Post(*c, "/generate", gen, Admin("user-key")).status, 200);
  EXPECT_EQ(testing::Get(*c, "/get_weight_version").status, 401);
  // The API key does not open the admin endpoints.
  const testing::HttpReply p = testing::Post(*c, "/pause_generation", "{}", Admin("user-key"));
  EXPECT_EQ(p.status, 401) << p.body;
  EXPECT_EQ(testing::Post(*c, "/flush_cache", "", Admin()).status, 200);
}

TEST_F(RlEndpointsTest, WithoutAnAdminKeyTheMutatingEndpointsAreDisabled) {
  auto open = Start("");
  auto c = ClientOf(open->port());
  for (const char* path : {"/update_weights_from_disk", "/update_weights_from_tensor",
                           "/pause_generation", "/continue_generation", "/flush_cache"}) {
    const testing::HttpReply r = testing::Post(*c, path, "{}", Admin());
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_NE(r.body.find("--admin-key"), std::string::npos) << r.body;
  }
  // Reading the version needs no admin key.
  EXPECT_EQ(WeightVersion(*c)["weight_version"]["counter"], 0);
  // The admin key may not be the API key.
  server::ServerOptions o;
  o.api_key = o.admin_key = "same";
  server::ServedModel m{&testing::ServerTestModel(), nullptr, "0123456789abcdef"};
  const auto s = server::HttpServer::Create(m, KernelContext{}, {}, o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("--admin-key must differ"), std::string::npos);
}

TEST_F(RlEndpointsTest, GenerateEqualsCompletionsForTheSameIdsAndSeed) {
  auto c = Client();
  const testing::HttpReply g = testing::Post(*c, "/generate", R"({
      "input_ids": [3, 1, 4, 1, 5],
      "sampling_params": {"temperature": 0.9, "top_p": 0.95, "top_k": 20, "min_p": 0.01,
                          "max_new_tokens": 9, "seed": 11, "n": 2},
      "return_logprob": true})");
  ASSERT_EQ(g.status, 200) << g.body;
  const testing::HttpReply o = testing::Post(*c, "/v1/completions", R"({
      "prompt": [3, 1, 4, 1, 5], "temperature": 0.9, "top_p": 0.95, "top_k": 20, "min_p": 0.01,
      "max_tokens": 9, "seed": 11, "n": 2, "logprobs": 0})");
  ASSERT_EQ(o.status, 200) << o.body;
  const Json gj = g.json(), oj = o.json();
  ASSERT_TRUE(gj.is_array());
  ASSERT_EQ(gj.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const testing::ResponseBits want = testing::ChoiceBits(oj["choices"][i]);
    const Json& meta = gj[i]["meta_info"];
    std::vector<int32_t> ids = gj[i]["output_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(ids, want.tokens) << i;
    std::vector<uint32_t> bits;
    for (const Json& t : meta["output_token_logprobs"]) {
      bits.push_back(testing::FloatBits(t[0]));
      EXPECT_EQ(t[2], nullptr);
    }
    EXPECT_EQ(bits, want.logprob_bits) << i;
    EXPECT_EQ(meta["fingerprint"], want.fingerprint) << i;
    EXPECT_EQ(meta["finish_reason"]["type"], "length");
    EXPECT_EQ(meta["finish_reason"]["length"], 9);
    EXPECT_EQ(meta["weight_version"]["counter"], 0);
    EXPECT_EQ(meta["system_fingerprint"], oj["system_fingerprint"]);
    EXPECT_EQ(meta["prompt_tokens"], 5);
  }
  // One prompt, one sample: one object; a stop id ends it with "matched".
  const testing::HttpReply one = testing::Post(*c, "/generate", R"({
      "input_ids": [3, 1, 4], "sampling_params": {"temperature": 0, "max_new_tokens": 4}})");
  ASSERT_EQ(one.status, 200) << one.body;
  const Json oj1 = one.json();
  ASSERT_TRUE(oj1.is_object());
  const int32_t first = oj1["output_ids"][0];
  const Json stopped = testing::Post(*c, "/generate",
                                     Json{{"input_ids", {3, 1, 4}},
                                          {"sampling_params",
                                           {{"temperature", 0},
                                            {"max_new_tokens", 4},
                                            {"stop_token_ids", {first}}}}}
                                         .dump())
                           .json();
  EXPECT_EQ(stopped["meta_info"]["finish_reason"]["type"], "stop");
  EXPECT_EQ(stopped["meta_info"]["finish_reason"]["matched"], first);
  // Bad input names the /generate field.
  const testing::HttpReply bad = testing::Post(
      *c, "/generate", R"({"input_ids": [1], "sampling_params": {"temperature": -1}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("sampling_params.temperature"), std::string::npos) << bad.body;
  const testing::HttpReply outside = testing::Post(
      *c, "/generate", R"({"input_ids": [[1], [2, 99]], "sampling_params": {"max_new_tokens": 2}})");
  EXPECT_EQ(outside.status, 400);
  EXPECT_EQ(outside.json()["error"]["param"], "input_ids[1]") << outside.body;
  EXPECT_NE(outside.body.find("'input_ids[1]' token 1 has id 99"), std::string::npos)
      << outside.body;
  const testing::HttpReply too_long = testing::Post(
      *c, "/generate", R"({"input_ids": [1], "sampling_params": {"max_new_tokens": 100000}})");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_EQ(too_long.json()["error"]["param"], "sampling_params.max_new_tokens") << too_long.body;
  const testing::HttpReply no_ids = testing::Post(*c, "/generate", R"({"text": "hi"})");
  EXPECT_EQ(no_ids.status, 400);
  EXPECT_NE(no_ids.body.find("input_ids"), std::string::npos) << no_ids.body;
}

// Processed logprobs (docs/rl.md): under the distribution the token was drawn from. With top_k 2
// at temperature T the kept set is the raw top 2, so the processed logprob is recomputed in
// float64 from the raw top alternatives the same answer reports: r_tok/T - log(sum exp(r_j/T))
// (the raw log-normaliser cancels). Greedy draws with probability 1. The OpenAI endpoint,
// streamed or not, reports the same bits.
TEST_F(RlEndpointsTest, ProcessedLogprobsAreRenormalisedOverTheKeptTokens) {
  auto c = Client();
  const double temperature = 0.7;
  const Json g = testing::Post(*c, "/generate", R"({
      "input_ids": [3, 1, 4, 1, 5],
      "sampling_params": {"temperature": 0.7, "top_k": 2, "max_new_tokens": 16, "seed": 5},
      "return_logprob": true, "top_logprobs_num": 2})").json();
  const Json& meta = g["meta_info"];
  const Json& ids = g["output_ids"];
  ASSERT_EQ(ids.size(), 16u) << g.dump();
  std::vector<float> processed;
  for (size_t i = 0; i < ids.size(); ++i) {
    const Json& top = meta["output_top_logprobs"][i];
    ASSERT_EQ(top.size(), 2u);
    const int32_t tok = ids[i];
    ASSERT_TRUE(top[0][1] == tok || top[1][1] == tok) << "top_k 2 drew outside the top 2";
    double norm = 0;
    for (const Json& alt : top) norm += std::exp(alt[0].get<double>() / temperature);
    const double want = meta["output_token_logprobs"][i][0].get<double>() / temperature -
                        std::log(norm);
    const float got = meta["output_token_sampling_logprobs"][i][0].get<float>();
    EXPECT_NEAR(got, want, 2e-5) << "token " << i;
    processed.push_back(got);
  }
  // The same request on /v1/completions, whole and streamed.
  const std::string body = R"({"prompt": [3, 1, 4, 1, 5], "temperature": 0.7, "top_k": 2,
      "max_tokens": 16, "seed": 5)";
  const Json o = testing::Post(*c, "/v1/completions", body + "}").json();
  EXPECT_EQ(o["choices"][0]["token_sampling_logprobs"].get<std::vector<float>>(), processed);
  const std::string sse = testing::Post(*c, "/v1/completions", body + R"(, "stream": true})").body;
  std::vector<float> streamed;
  for (size_t at = sse.find("data: {"); at != std::string::npos; at = sse.find("data: {", at + 1)) {
    const Json chunk = Json::parse(sse.substr(at + 6, sse.find("\n", at) - at - 6));
    if (chunk.contains("choices") && !chunk["choices"].empty()) {
      for (const Json& v : chunk["choices"][0]["token_sampling_logprobs"]) streamed.push_back(v);
    }
  }
  EXPECT_EQ(streamed, processed);
  // Greedy: every processed logprob is 0.
  const Json greedy = testing::Post(*c, "/generate", R"({"input_ids": [3, 1, 4],
      "sampling_params": {"temperature": 0, "max_new_tokens": 6}, "return_logprob": true})").json();
  for (const Json& t : greedy["meta_info"]["output_token_sampling_logprobs"]) EXPECT_EQ(t[0], 0.0);
}

TEST(RlRequestTest, Base64DecodesWhatItEncodesAndPointsAtABadCharacter) {
  const std::vector<uint8_t> bytes = {0, 1, 2, 250, 251, 252, 253};
  for (size_t n = 0; n <= bytes.size(); ++n) {
    size_t where = 0;
    const auto back = server::DecodeBase64(RlBase64(bytes.data(), n), &where);
    ASSERT_TRUE(back.has_value()) << n;
    EXPECT_EQ(*back, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)));
  }
  size_t where = 0;
  EXPECT_FALSE(server::DecodeBase64("AAAA*AAA", &where).has_value());
  EXPECT_EQ(where, 4u);
  EXPECT_FALSE(server::DecodeBase64("AAAAA", &where).has_value());  // a lone 6-bit group
  EXPECT_FALSE(server::DecodeBase64("AA=A", &where).has_value());   // padding inside
}

// SGLang's names for the penalties and min_new_tokens reach the completions request; an error
// names the /generate field.
TEST(RlRequestTest, GeneratePenaltiesAndMinNewTokens) {
  server::GenerateRequest g;
  ASSERT_FALSE(server::ParseGenerateRequest(
      R"({"input_ids": [1, 2], "sampling_params": {"max_new_tokens": 8, "min_new_tokens": 3,
          "repetition_penalty": 1.2, "presence_penalty": 0.5, "frequency_penalty": -0.5}})",
      {}, &g));
  EXPECT_EQ(g.completion.min_tokens, 3);
  EXPECT_EQ(g.completion.repetition_penalty, 1.2f);
  EXPECT_EQ(g.completion.presence_penalty, 0.5f);
  EXPECT_EQ(g.completion.frequency_penalty, -0.5f);
  EXPECT_TRUE(g.ignored_fields.empty());
  const auto e = server::ParseGenerateRequest(
      R"({"input_ids": [1], "sampling_params": {"min_new_tokens": -2}})", {}, &g);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "sampling_params.min_new_tokens") << e->message;
}

TEST(RlRequestTest, PauseModesAndTheirErrors) {
  Engine::PauseMode mode = Engine::PauseMode::kInPlace;
  std::vector<std::string> ignored;
  EXPECT_FALSE(server::ParsePauseRequest("", {}, &mode, &ignored));
  EXPECT_EQ(mode, Engine::PauseMode::kAbort);  // SGLang's default
  EXPECT_FALSE(server::ParsePauseRequest(R"({"mode": "retract"})", {}, &mode, &ignored));
  EXPECT_EQ(mode, Engine::PauseMode::kRetract);
  EXPECT_FALSE(server::ParsePauseRequest(R"({"mode": "in_place"})", {}, &mode, &ignored));
  EXPECT_EQ(mode, Engine::PauseMode::kInPlace);
  const auto e = server::ParsePauseRequest(R"({"mode": 3})", {}, &mode, &ignored);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "mode");
}

// A request long enough to be in flight when the test acts (the 8192-context model).
struct RlLongRun {
  std::future<testing::HttpReply> reply;
  RlLongRun(int port, int max_tokens) {
    reply = std::async(std::launch::async, [port, max_tokens] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(120, 0);
      return testing::Post(c, "/v1/completions",
                           Json{{"prompt", {1, 2, 3}}, {"max_tokens", max_tokens}, {"seed", 5}}
                               .dump());
    });
  }
};

TEST(RlPauseTest, AbortEndsInFlightRequestsAndContinueResumes) {
  server::ServerOptions o;
  o.admin_key = kRlAdminKey;
  auto srv = testing::LongServer(o);
  auto c = srv->Client();
  RlLongRun running(srv->port(), 8000);
  // In the engine (however loaded the machine), and a little way into its tokens.
  for (int i = 0; i < 200 && testing::MetricValue(srv->srv->MetricsText(),
                                                  "detinfer_requests_running") < 1;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const testing::HttpReply p =
      testing::Post(*c, "/pause_generation", R"({"mode": "abort"})", Admin());
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json()["paused"], true);
  ASSERT_EQ(running.reply.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const testing::HttpReply aborted = running.reply.get();
  ASSERT_EQ(aborted.status, 200) << aborted.body;
  const Json aborted_json = aborted.json();
  const Json& choice = aborted_json["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "abort");
  EXPECT_LT(choice["token_ids"].size(), 8000u);
  EXPECT_EQ(choice["token_ids"].size(), choice["token_logprobs"].size());
  EXPECT_EQ(choice["weight_version"]["counter"], 0);

  // While paused a new request waits; /continue_generation lets it run to its end.
  RlLongRun waiting(srv->port(), 5);
  EXPECT_EQ(waiting.reply.wait_for(std::chrono::milliseconds(400)), std::future_status::timeout);
  const testing::HttpReply go = testing::Post(*c, "/continue_generation", "", Admin());
  ASSERT_EQ(go.status, 200) << go.body;
  EXPECT_EQ(go.json()["paused"], false);
  ASSERT_EQ(waiting.reply.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  const testing::HttpReply done = waiting.reply.get();
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.json()["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(done.json()["choices"][0]["token_ids"].size(), 5u);
  // The aborted tokens are a prefix of the uninterrupted run's (same seed).
  const Json full = testing::Post(*c, "/v1/completions",
                                  Json{{"prompt", {1, 2, 3}}, {"max_tokens", 40}, {"seed", 5}}
                                      .dump())
                        .json();
  const size_t n = std::min<size_t>(choice["token_ids"].size(), 40);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(choice["token_ids"][i], full["choices"][0]["token_ids"][i]) << i;
  }
  // flush_cache answers too (GET or POST, as SGLang).
  EXPECT_EQ(testing::Post(*c, "/flush_cache", "", Admin()).status, 200);
}

TEST(RlPauseTest, RetractKeepsTheRequestAndContinueFinishesIt) {
  server::ServerOptions o;
  o.admin_key = kRlAdminKey;
  auto srv = testing::LongServer(o);
  auto c = srv->Client();
  RlLongRun running(srv->port(), 3000);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(testing::Post(*c, "/pause_generation", R"({"mode": "retract"})", Admin()).status, 200);
  EXPECT_EQ(running.reply.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  ASSERT_EQ(testing::Post(*c, "/continue_generation", "{}", Admin()).status, 200);
  const testing::HttpReply r = running.reply.get();
  ASSERT_EQ(r.status, 200) << r.body;
  const Json r_json = r.json();
  const Json& choice = r_json["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "length");
  // Without an update in between, a retract changes no bit.
  const Json again = testing::Post(*c, "/v1/completions",
                                   Json{{"prompt", {1, 2, 3}}, {"max_tokens", 3000}, {"seed", 5}}
                                       .dump())
                         .json();
  EXPECT_EQ(testing::ChoiceBits(choice), testing::ChoiceBits(again["choices"][0]));
}

}  // namespace
}  // namespace detinfer
