// `detinfer tokenize` / `detokenize` on the shipped model: ids from the tokenizer file's own
// vocabulary (read here as JSON, not through our tokenizer), the ids generate runs, byte offsets
// that tile the text, round trips, and errors that name the flag.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;
using testing::CliRun;
using testing::ShippedModel;
using Json = nlohmann::json;

int32_t VocabId(const std::string& word) {
  static const Json vocab = [] {
    std::ifstream in(ShippedModel() + "/tokenizer.json");
    return Json::parse(in)["model"]["vocab"];
  }();
  return vocab.at(word).get<int32_t>();
}

TEST(CliTokenizeTest, IdsComeFromTheVocabularyWithTheTemplatesBos) {
  const CliRun r = Cli("tokenize " + ShippedModel() + " --prompt 'Yesterday I walked'", true);
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string want = std::to_string(VocabId("<s>")) + "," + std::to_string(VocabId("Yesterday")) +
                           "," + std::to_string(VocabId("I")) + "," + std::to_string(VocabId("walked"));
  EXPECT_EQ(r.out, want + "\n");
  const CliRun plain =
      Cli("tokenize " + ShippedModel() + " --prompt 'Yesterday I walked' --no-special-tokens", true);
  EXPECT_EQ(plain.out, want.substr(want.find(',') + 1) + "\n");
}

// The ids tokenize prints are the ids generate runs for the same --prompt.
TEST(CliTokenizeTest, IdsAreTheIdsGenerateRuns) {
  const CliRun t = Cli("tokenize " + ShippedModel() + " --prompt 'Last week she' --json", true);
  ASSERT_EQ(t.rc, 0) << t.out;
  const CliRun g = Cli("generate " + ShippedModel() + " --prompt 'Last week she' --max-tokens 1 --json", true);
  ASSERT_EQ(g.rc, 0) << g.out;
  EXPECT_EQ(Json::parse(t.out)["ids"], Json::parse(g.out)["prompt_tokens"]);
}

// Byte offsets: the text's own tokens cover it end to end, in order, each stretch holding the
// token's vocabulary word; the added BOS has none.
TEST(CliTokenizeTest, ByteOffsetsTileTheText) {
  const std::string text = "Every morning they walked home";
  const CliRun r = Cli("tokenize " + ShippedModel() + " --prompt '" + text + "' --json", true);
  ASSERT_EQ(r.rc, 0) << r.out;
  const Json j = Json::parse(r.out);
  ASSERT_TRUE(j["byte_offsets"].get<bool>()) << r.out;
  ASSERT_EQ(j["tokens"][0]["special_added"], true);
  EXPECT_FALSE(j["tokens"][0].contains("start"));
  size_t pos = 0;
  for (size_t i = 1; i < j["tokens"].size(); ++i) {
    const Json& t = j["tokens"][i];
    ASSERT_EQ(t["start"].get<size_t>(), pos) << t.dump();
    const size_t end = t["end"].get<size_t>();
    const std::string span = text.substr(pos, end - pos);
    // A word-level token carries the spaces before it.
    EXPECT_EQ(span.substr(span.find_first_not_of(' ')), t["piece"].get<std::string>());
    EXPECT_EQ(t["id"].get<int32_t>(), VocabId(t["piece"].get<std::string>()));
    pos = end;
  }
  EXPECT_EQ(pos, text.size());

  // Whitespace the tokenizer drops (a word-level decoder joins words with one space) means the
  // tokens do not decode to the input: then there are no offsets, rather than wrong ones.
  const CliRun spaced =
      Cli("tokenize " + ShippedModel() + " --prompt 'Every morning they   walked home' --json", true);
  ASSERT_EQ(spaced.rc, 0) << spaced.out;
  const Json s = Json::parse(spaced.out);
  EXPECT_FALSE(s["byte_offsets"].get<bool>());
  for (const Json& t : s["tokens"]) EXPECT_FALSE(t.contains("start")) << t.dump();
  EXPECT_EQ(s["tokens"][0]["special_added"], true);  // still known: it is outside the text's run
  EXPECT_EQ(s["tokens"][1]["special_added"], false);
}

TEST(CliTokenizeTest, DetokenizeInvertsTokenize) {
  const CliRun t =
      Cli("tokenize " + ShippedModel() + " --prompt 'Two days ago we cooked pasta' --no-special-tokens", true);
  ASSERT_EQ(t.rc, 0) << t.out;
  const std::string ids = t.out.substr(0, t.out.size() - 1);
  const CliRun d = Cli("detokenize " + ShippedModel() + " --ids " + ids, true);
  ASSERT_EQ(d.rc, 0) << d.out;
  EXPECT_EQ(d.out, "Two days ago we cooked pasta\n");
}

// Special tokens generated past the end of sequence (--ignore-eos) are reported as ids but their
// text is left out, unless asked for; the ids and their logprobs are the same either way.
TEST(CliTokenizeTest, GeneratedSpecialTokensAreIdsNotText) {
  const std::string run = "generate " + ShippedModel() +
                          " --prompt 'Yesterday I' --ignore-eos --max-tokens 40 --temperature 1 "
                          "--seed 1 --json";
  const CliRun skip = Cli(run, true);
  const CliRun keep = Cli(run + " --keep-special-tokens", true);
  ASSERT_EQ(skip.rc, 0) << skip.out;
  ASSERT_EQ(keep.rc, 0) << keep.out;
  const Json s = Json::parse(skip.out), k = Json::parse(keep.out);
  const int32_t eos = VocabId("</s>");
  const auto eos_count = std::count(s["tokens"].begin(), s["tokens"].end(), Json(eos));
  ASSERT_GT(eos_count, 0) << "seed 1 made no </s>: " << skip.out;
  EXPECT_EQ(s["tokens"], k["tokens"]);
  EXPECT_EQ(s["fingerprint"], k["fingerprint"]);
  EXPECT_EQ(s["text"].get<std::string>().find("</s>"), std::string::npos) << skip.out;
  size_t shown = 0;
  const std::string kept = k["text"].get<std::string>();
  for (size_t p = kept.find("</s>"); p != std::string::npos; p = kept.find("</s>", p + 1)) ++shown;
  EXPECT_EQ(shown, static_cast<size_t>(eos_count)) << keep.out;
  // detokenize: the special tokens' text by default (as Hugging Face's decode), none when asked.
  const std::string ids = "--ids " + std::to_string(VocabId("<s>")) + "," +
                          std::to_string(VocabId("Yesterday")) + "," + std::to_string(eos);
  EXPECT_EQ(Cli("detokenize " + ShippedModel() + " " + ids, true).out, "<s> Yesterday </s>\n");
  EXPECT_EQ(Cli("detokenize " + ShippedModel() + " " + ids + " --skip-special-tokens", true).out,
            "Yesterday\n");
}

// --chat renders a conversation with the model's own template (tokenizer_config.json) and
// encodes it as the server does: the template writes <s> itself, so no second one is added.
TEST(CliTokenizeTest, ChatUsesTheModelsTemplate) {
  testing::TempDir dir;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    std::filesystem::copy_file(ShippedModel() + "/" + f, dir.file(f));
  }
  const Json config = {{"bos_token", "<s>"},
                       {"chat_template",
                        "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"
                        "{% if add_generation_prompt %} the{% endif %}"}};
  testing::WriteText(dir.file("tokenizer_config.json"), config.dump());
  testing::WriteText(dir.file("chat.json"), R"([{"role": "user", "content": "Yesterday I played"}])");
  testing::WriteText(dir.file("nogen.json"),
                     R"({"messages": [{"role": "user", "content": "Yesterday I played"}],
                         "add_generation_prompt": false})");
  const std::string ids = std::to_string(VocabId("<s>")) + "," + std::to_string(VocabId("Yesterday")) +
                          "," + std::to_string(VocabId("I")) + "," + std::to_string(VocabId("played"));
  const CliRun r = Cli("tokenize " + dir.path() + " --chat " + dir.file("chat.json"), true);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, ids + "," + std::to_string(VocabId("the")) + "\n");
  const CliRun j = Cli("tokenize " + dir.path() + " --chat " + dir.file("nogen.json") + " --json", true);
  ASSERT_EQ(j.rc, 0) << j.out;
  EXPECT_EQ(Json::parse(j.out)["rendered"], "<s>Yesterday I played");
  // --chat-template overrides the model's: the built-in ChatML writes no BOS, so the tokenizer's
  // is added (and its markers are words this vocabulary lacks: a warning, not an error).
  const CliRun chatml =
      Cli("tokenize " + dir.path() + " --chat " + dir.file("chat.json") + " --chat-template chatml");
  EXPECT_EQ(chatml.rc, 0) << chatml.out;
  EXPECT_NE(chatml.out.find("not in the model's vocabulary"), std::string::npos) << chatml.out;
  // info says which template chat will use.
  const CliRun info = Cli("info " + dir.path() + " --json", true);
  ASSERT_EQ(info.rc, 0) << info.out;
  EXPECT_NE(Json::parse(info.out)["chat"]["template"].get<std::string>().find("tokenizer_config.json"),
            std::string::npos)
      << info.out;
  const CliRun bad = Cli("tokenize " + dir.path() + " --chat " + dir.file("config.json"));
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("config.json"), std::string::npos) << bad.out;
}

TEST(CliTokenizeTest, ErrorsNameTheFlag) {
  struct Case {
    std::string args;
    int rc;
    std::string says;
  };
  const Case cases[] = {
      {"tokenize " + ShippedModel(), 2, "--prompt, --file or --chat"},
      {"tokenize " + ShippedModel() + " --prompt a --file /dev/null", 2, "exactly one"},
      {"tokenize " + ShippedModel() + " --file /nonexistent/x.txt", 2, "/nonexistent/x.txt"},
      {"tokenize /nonexistent/model --prompt a", 1, "/nonexistent/model"},
      {"detokenize " + ShippedModel() + " --ids 4,100000", 2, "100000"},
      {"detokenize " + ShippedModel() + " --ids 4,x", 2, "--ids"},
  };
  for (const Case& c : cases) {
    const CliRun r = Cli(c.args);
    EXPECT_EQ(r.rc, c.rc) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.args << "\n" << r.out;
  }
  // A word outside the vocabulary is encoded (as <unk>) with a warning, never silently.
  const CliRun unk = Cli("tokenize " + ShippedModel() + " --prompt 'Yesterday I zzz'");
  EXPECT_EQ(unk.rc, 0);
  EXPECT_NE(unk.out.find("not in the model's vocabulary"), std::string::npos) << unk.out;
}

}  // namespace
}  // namespace detinfer
