// A model's own chat template drives /v1/chat/completions and /tokenize: the shipped model's
// files plus a tokenizer_config.json whose Jinja template writes only words of its vocabulary,
// so the expected ids follow from the template's text by hand (the vocabulary read as JSON);
// tools and chat_template_kwargs reach the template; generation_config.json's eos_token_id ends
// the turn; the template's raise_exception is a 400 with its message.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/chat_config.h"
#include "model/model_test_util.h"
#include "server_test_util.h"

namespace detinfer {
namespace {

using testing::Json;
namespace fs = std::filesystem;

int32_t VocabId(const std::string& word) {
  static const Json vocab = [] {
    std::ifstream in(std::string(DETINFER_SOURCE_DIR) + "/models/verbs/tokenizer.json");
    return Json::parse(in)["model"]["vocab"];
  }();
  return vocab.at(word).get<int32_t>();
}

// "Now" when the template argument `now` is set, the first tool's name, the user turns'
// content, and " the" as the generation prompt. A system message is refused (raise_exception).
constexpr const char* kTemplate =
    "{{ bos_token }}{% if now is defined and now %}Now {% endif %}"
    "{% if tools %}{{ tools[0].function.name }} {% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ raise_exception('no system messages, please') }}{% endif %}"
    "{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %} the{% endif %}";

class ChatFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path src = fs::path(DETINFER_SOURCE_DIR) / "models/verbs";
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
      fs::copy_file(src / f, fs::path(dir_.path()) / f);
    }
    const Json config = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"chat_template", kTemplate}};
    testing::WriteText(dir_.file("tokenizer_config.json"), config.dump());
    // The turn ends at "." (a stand-in for an end-of-turn token such as <|eot_id|>).
    testing::WriteText(dir_.file("generation_config.json"),
                       Json({{"eos_token_id", Json::array({VocabId("</s>"), VocabId(".")})}}).dump());
    auto b = LoadModelBundle(dir_.path());
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    bundle_ = std::make_unique<ModelBundle>(std::move(b).value());
    auto c = ReadModelChatConfig(dir_.path(), ModelFormat::kHuggingFace, bundle_->tokenizer_path);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    config_ = *c;
    auto f = server::ChatFormat::Choose("", config_, bundle_->tokenizer.get());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    server::ServerOptions o;
    o.chat_format = *f;
    server_ = std::make_unique<testing::TestServer>(o, EngineOptions{}, bundle_->model.get(),
                                                    bundle_->tokenizer.get());
    client_ = server_->Client();
  }
  testing::HttpReply Post(const std::string& path, const Json& body) {
    return testing::Post(*client_, path, body.dump());
  }

  testing::TempDir dir_;
  std::unique_ptr<ModelBundle> bundle_;
  ModelChatConfig config_;
  std::unique_ptr<testing::TestServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ChatFormatTest, TheModelsFilesAreRead) {
  EXPECT_EQ(config_.chat_template, kTemplate);
  EXPECT_NE(config_.chat_template_origin.find("tokenizer_config.json"), std::string::npos);
  EXPECT_EQ(config_.bos_token, "<s>");
  std::vector<int32_t> end = {VocabId("</s>"), VocabId(".")};
  std::sort(end.begin(), end.end());
  EXPECT_EQ(config_.end_ids, end);
  const Json models = testing::Get(*client_, "/v1/models").json();
  EXPECT_EQ(models["data"][0]["chat_template"], "jinja");
}

TEST_F(ChatFormatTest, TemplateTextBecomesTheIds) {
  const Json messages = Json::array({{{"role", "user"}, {"content", "Yesterday I"}},
                                     {{"role", "assistant"}, {"content", "ignored"}},
                                     {{"role", "user"}, {"content", Json::array({{{"type", "text"}, {"text", " played"}}})}}});
  const int32_t bos = VocabId("<s>"), yesterday = VocabId("Yesterday"), i = VocabId("I"),
                played = VocabId("played"), now = VocabId("Now"), the = VocabId("the"),
                piano = VocabId("piano"), dot = VocabId(".");
  // The template writes <s> itself: no second one from the tokenizer.
  const Json plain = Post("/tokenize", {{"messages", messages}}).json();
  EXPECT_EQ(plain["tokens"], Json::array({bos, yesterday, i, played, the})) << plain.dump();
  const Json no_gen =
      Post("/tokenize", {{"messages", messages}, {"add_generation_prompt", false}}).json();
  EXPECT_EQ(no_gen["tokens"], Json::array({bos, yesterday, i, played})) << no_gen.dump();
  const Json tools = Json::array({{{"type", "function"}, {"function", {{"name", "piano"}}}}});
  const Json all = Post("/tokenize", {{"messages", messages},
                                      {"chat_template_kwargs", {{"now", true}}},
                                      {"tools", tools}})
                       .json();
  EXPECT_EQ(all["tokens"], Json::array({bos, now, piano, yesterday, i, played, the})) << all.dump();

  // The chat request runs exactly those ids and ends its turn at "." (generation_config.json).
  const Json chat = {{"messages", messages},
                     {"chat_template_kwargs", {{"now", true}}},
                     {"tools", tools},
                     {"max_tokens", 50},
                     {"temperature", 1.0},
                     {"return_token_ids", true}};
  int ended_at_dot = 0;
  for (int seed = 0; seed < 6; ++seed) {
    Json req = chat;
    req["seed"] = seed;
    const testing::HttpReply r = Post("/v1/chat/completions", req);
    ASSERT_EQ(r.status, 200) << r.body;
    const Json j = r.json();
    EXPECT_EQ(j["prompt_token_ids"], all["tokens"]);
    const Json& ids = j["choices"][0]["token_ids"];
    for (size_t k = 0; k + 1 < ids.size(); ++k) EXPECT_NE(ids[k], dot) << r.body;
    if (!ids.empty() && ids.back() == dot) {
      ++ended_at_dot;
      EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
      EXPECT_EQ(j["choices"][0]["message"]["content"].get<std::string>().find('.'),
                std::string::npos);
    }
  }
  EXPECT_GT(ended_at_dot, 0) << "no answer ended at '.'";
}

TEST_F(ChatFormatTest, TheTemplatesOwnErrorIsA400) {
  const Json messages = Json::array({{{"role", "system"}, {"content", "be brief"}},
                                     {{"role", "user"}, {"content", "Yesterday I"}}});
  for (const char* path : {"/v1/chat/completions", "/tokenize"}) {
    const testing::HttpReply r = Post(path, {{"messages", messages}});
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_NE(r.body.find("no system messages, please"), std::string::npos) << r.body;
    EXPECT_EQ(r.json()["error"]["param"], "messages");
  }
  EXPECT_EQ(Post("/tokenize", {{"messages", Json::array({{{"role", "user"}, {"content", "a"}}})},
                               {"tools", "none"}})
                .status,
            400);
}

// A tokenizer whose rules also append EOS (post_processor "<s> $A </s>"): a plain prompt gets
// both, as Hugging Face encodes it, but a chat prompt from a built-in template gets only the BOS
// — an EOS at its end would tell the model the conversation is over.
TEST(ChatFormatBuiltinTest, ChatPromptsGetTheBosButNeverTheEos) {
  testing::TempDir dir;
  const fs::path src = fs::path(DETINFER_SOURCE_DIR) / "models/verbs";
  for (const char* f : {"config.json", "model.safetensors"}) {
    fs::copy_file(src / f, fs::path(dir.path()) / f);
  }
  std::ifstream in(src / "tokenizer.json");
  Json tok = Json::parse(in);
  const int32_t bos = VocabId("<s>"), eos = VocabId("</s>");
  tok["post_processor"]["single"].push_back({{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}});
  tok["post_processor"]["special_tokens"]["</s>"] = {{"id", "</s>"}, {"ids", {eos}}, {"tokens", {"</s>"}}};
  testing::WriteText(dir.file("tokenizer.json"), tok.dump());
  auto b = LoadModelBundle(dir.path());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  testing::TestServer server({}, {}, b->model.get(), b->tokenizer.get());  // built-in ChatML
  auto client = server.Client();
  const Json plain =
      testing::Post(*client, "/tokenize", Json({{"prompt", "Yesterday I"}}).dump()).json();
  EXPECT_EQ(plain["tokens"],
            Json::array({bos, VocabId("Yesterday"), VocabId("I"), eos}))
      << plain.dump();
  const Json chat = testing::Post(*client, "/tokenize",
                                  Json({{"messages", Json::array({{{"role", "user"},
                                                                   {"content", "Yesterday I"}}})}})
                                      .dump())
                        .json();
  ASSERT_FALSE(chat["tokens"].empty()) << chat.dump();
  EXPECT_EQ(chat["tokens"].front(), bos);
  EXPECT_NE(chat["tokens"].back(), eos) << chat.dump();
  // Asked for explicitly, the tokenizer's own rules apply to chat text too.
  const Json asked = testing::Post(*client, "/tokenize",
                                   Json({{"messages", Json::array({{{"role", "user"},
                                                                    {"content", "Yesterday I"}}})},
                                         {"add_special_tokens", true}})
                                       .dump())
                         .json();
  EXPECT_EQ(asked["tokens"].back(), eos) << asked.dump();
}

TEST(ChatFormatChooseTest, FlagValuesAndErrors) {
  const ModelChatConfig none;
  auto builtin = server::ChatFormat::Choose("llama3", none, nullptr);
  ASSERT_TRUE(builtin.ok());
  EXPECT_EQ(builtin->name(), "llama3");
  EXPECT_FALSE(builtin->writes_special_tokens());
  auto missing = server::ChatFormat::Choose("/nonexistent/t.jinja", none, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/t.jinja"), std::string::npos);
  testing::TempDir dir;
  testing::WriteText(dir.file("bad.jinja"), "line one\n{% if x %}never closed");
  auto bad = server::ChatFormat::Choose(dir.file("bad.jinja"), none, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.jinja"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status().ToString();
  // No template shipped, no flag: the built-in one.
  auto fallback = server::ChatFormat::Choose("", none, nullptr);
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->name(), "chatml");
}

}  // namespace
}  // namespace detinfer
