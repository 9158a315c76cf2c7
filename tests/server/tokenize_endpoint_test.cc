// POST /tokenize and /detokenize (vLLM's shapes) and return_token_ids, over real HTTP on the
// shipped model. The expected ids come from the model's tokenizer.json itself (its vocabulary
// and its post_processor's BOS), read here with a JSON parser, not through our tokenizer; the
// ids /tokenize shows for a chat must be the ids /v1/chat/completions ran.
#include <gtest/gtest.h>

#include <fstream>

#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;

// The id of `word` in models/verbs/tokenizer.json (WordLevel: one token per word).
int32_t VocabId(const std::string& word) {
  static const Json vocab = [] {
    std::ifstream in(std::string(DETINFER_SOURCE_DIR) + "/models/verbs/tokenizer.json");
    return Json::parse(in)["model"]["vocab"];
  }();
  return vocab.at(word).get<int32_t>();
}

std::vector<int32_t> Ids(const Json& j) { return j.get<std::vector<int32_t>>(); }

class TokenizeEndpointTest : public ::testing::Test {
 protected:
  TokenizeEndpointTest()
      : server_({}, {}, testing::VerbsModel().model.get(),
                testing::VerbsModel().tokenizer.get()),
        client_(server_.Client()) {}
  testing::HttpReply Post(const std::string& path, const Json& body) {
    return testing::Post(*client_, path, body.dump());
  }
  testing::TestServer server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(TokenizeEndpointTest, PromptIdsFollowTheVocabularyAndTheTemplatesBos) {
  const std::vector<int32_t> words = {VocabId("Yesterday"), VocabId("I"), VocabId("walked")};
  std::vector<int32_t> with_bos = {VocabId("<s>")};  // post_processor: <s> $A
  with_bos.insert(with_bos.end(), words.begin(), words.end());

  const testing::HttpReply r = Post("/tokenize", {{"prompt", "Yesterday I walked"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  EXPECT_EQ(Ids(j["tokens"]), with_bos);
  EXPECT_EQ(j["count"], 4);
  EXPECT_EQ(j["max_model_len"], testing::VerbsModel().model->config().max_seq_len);
  EXPECT_TRUE(j["token_strs"].is_null());

  const Json plain =
      Post("/tokenize", {{"prompt", "Yesterday I walked"}, {"add_special_tokens", false}}).json();
  EXPECT_EQ(Ids(plain["tokens"]), words);

  const Json strs =
      Post("/tokenize", {{"prompt", "Yesterday I walked"}, {"return_token_strs", true}}).json();
  EXPECT_EQ(strs["token_strs"], Json::array({"<s>", "Yesterday", "I", "walked"}));

  // The same route under the API key.
  const testing::HttpReply empty = Post("/tokenize", {{"prompt", ""}});
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(Ids(empty.json()["tokens"]), std::vector<int32_t>{VocabId("<s>")});
}

TEST_F(TokenizeEndpointTest, DetokenizeInvertsTokenize) {
  const Json ids = Json::array({VocabId("Yesterday"), VocabId("I"), VocabId("walked")});
  const testing::HttpReply r = Post("/detokenize", {{"tokens", ids}});
  ASSERT_EQ(r.status, 200) << r.body;
  // WordLevel with no decoder: Hugging Face joins the tokens with single spaces.
  EXPECT_EQ(r.json()["prompt"], "Yesterday I walked");
  EXPECT_EQ(Post("/detokenize", {{"tokens", Json::array()}}).json()["prompt"], "");
}

// The ids /tokenize gives for messages are the ids the chat request ran (return_token_ids),
// streamed or not, and the ids of a completion's prompt are /tokenize's for its text.
TEST_F(TokenizeEndpointTest, ChatIdsAreTheIdsTheChatRequestRan) {
  const Json messages = Json::array({{{"role", "user"}, {"content", "Yesterday I"}}});
  const testing::HttpReply tok = Post("/tokenize", {{"messages", messages}});
  ASSERT_EQ(tok.status, 200) << tok.body;
  const std::vector<int32_t> chat_ids = Ids(tok.json()["tokens"]);
  ASSERT_FALSE(chat_ids.empty());

  const Json chat = {{"messages", messages}, {"max_tokens", 3}, {"return_token_ids", true}};
  const testing::HttpReply c = Post("/v1/chat/completions", chat);
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(Ids(c.json()["prompt_token_ids"]), chat_ids);
  EXPECT_EQ(c.json()["usage"]["prompt_tokens"], chat_ids.size());

  Json streamed = chat;
  streamed["stream"] = true;
  const testing::HttpReply s = Post("/v1/chat/completions", streamed);
  ASSERT_EQ(s.status, 200) << s.body;
  const std::vector<std::string> events = testing::SseData(s.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(Ids(Json::parse(events[0])["prompt_token_ids"]), chat_ids);
  for (size_t i = 1; i < events.size() && events[i] != "[DONE]"; ++i) {
    EXPECT_FALSE(Json::parse(events[i]).contains("prompt_token_ids")) << events[i];
  }

  // Without the generation prompt the rendered text is shorter.
  const Json no_gen =
      Post("/tokenize", {{"messages", messages}, {"add_generation_prompt", false}}).json();
  EXPECT_LT(no_gen["count"].get<size_t>(), chat_ids.size());

  const std::vector<int32_t> text_ids =
      Ids(Post("/tokenize", {{"prompt", "Yesterday I"}}).json()["tokens"]);
  const Json completion = {{"prompt", "Yesterday I"}, {"max_tokens", 2}, {"return_token_ids", true}};
  const testing::HttpReply t = Post("/v1/completions", completion);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(Ids(t.json()["choices"][0]["prompt_token_ids"]), text_ids);
  // Not asked for: not sent.
  const Json bare = Post("/v1/completions", {{"prompt", "Yesterday I"}, {"max_tokens", 2}}).json();
  EXPECT_FALSE(bare["choices"][0].contains("prompt_token_ids"));
}

TEST_F(TokenizeEndpointTest, BadRequestsNameTheField) {
  struct Case {
    const char* path;
    Json body;
    int status;
    const char* param;
    std::string says;
  };
  const int32_t vocab = static_cast<int32_t>(testing::VerbsModel().tokenizer->vocab_size());
  const Case cases[] = {
      {"/tokenize", Json::object(), 400, "prompt", "'prompt' or 'messages' is required"},
      {"/tokenize", {{"prompt", "a"}, {"messages", Json::array({{{"role", "user"}, {"content", "a"}}})}},
       400, "messages", "not both"},
      {"/tokenize", {{"prompt", 5}}, 400, "prompt", "must be a string"},
      {"/tokenize", {{"prompt", "a"}, {"add_special_tokens", "yes"}}, 400, "add_special_tokens",
       "true or false"},
      {"/tokenize", {{"prompt", "a"}, {"model", "other"}}, 404, "model", "does not exist"},
      {"/detokenize", Json::object(), 400, "tokens", "'tokens' is required"},
      {"/detokenize", {{"tokens", Json::array({1, -2})}}, 400, "tokens", "item 1"},
      {"/detokenize", {{"tokens", Json::array({vocab})}}, 400, "tokens", std::to_string(vocab)},
  };
  for (const Case& c : cases) {
    const testing::HttpReply r = Post(c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.path << " " << c.body.dump() << ": " << r.body;
    const Json e = r.json()["error"];
    EXPECT_EQ(e["param"], c.param) << r.body;
    EXPECT_NE(e["message"].get<std::string>().find(c.says), std::string::npos) << r.body;
  }
  const testing::HttpReply get = testing::Get(*client_, "/tokenize");
  EXPECT_EQ(get.status, 405);
  const testing::HttpReply bad_utf8 =
      testing::Post(*client_, "/tokenize", "{\"prompt\": \"caf\xc3\"}");
  EXPECT_EQ(bad_utf8.status, 400) << bad_utf8.body;
}

TEST(TokenizeEndpointNoTokenizerTest, SaysThereIsNoTokenizer) {
  testing::TestServer server;
  auto client = server.Client();
  const testing::HttpReply r = testing::Post(*client, "/tokenize", R"({"prompt": "hi"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("no tokenizer"), std::string::npos) << r.body;
  const testing::HttpReply d = testing::Post(*client, "/detokenize", R"({"tokens": [1]})");
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.body.find("no tokenizer"), std::string::npos) << d.body;
}

TEST(TokenizeEndpointAuthTest, NeedsTheApiKey) {
  server::ServerOptions o;
  o.api_key = "sekrit";
  testing::TestServer server(o);
  auto client = server.Client();
  EXPECT_EQ(testing::Post(*client, "/tokenize", R"({"prompt": "hi"})").status, 401);
  EXPECT_EQ(testing::Post(*client, "/detokenize", R"({"tokens": [1]})").status, 401);
}

}  // namespace
}  // namespace detinfer
