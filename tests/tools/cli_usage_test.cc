// What a newcomer meets on the command line (issue: the CLI tried command by command), on the
// model detinfer ships: generation stops at end-of-sequence, streamed text is the JSON text,
// unreadable prompt words are reported, one set of exit codes, misspellings get a suggestion,
// --requests files are checked key by key, help shows defaults.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "cli_run.h"

namespace detinfer {
namespace {

using testing::Cli;
using testing::CliRun;

const std::string& Verbs() {
  static const std::string path = testing::ShippedModel();
  return path;
}

// The shipped tokenizer.json read directly (not through detinfer's tokenizer): the oracle for
// which words it knows and which id is "</s>".
const nlohmann::json& TokenizerJson() {
  static const nlohmann::json j = [] {
    std::ifstream f(Verbs() + "/tokenizer.json");
    return nlohmann::json::parse(f);
  }();
  return j;
}
int AddedTokenId(const std::string& content) {
  for (const auto& t : TokenizerJson()["added_tokens"]) {
    if (t["content"] == content) return t["id"].get<int>();
  }
  return -1;
}

nlohmann::json ParseJson(const CliRun& r) {
  return nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(CliUsageTest, GenerateStopsAtEndOfSequenceUnlessIgnoreEos) {
  const int eos = AddedTokenId("</s>");
  ASSERT_GE(eos, 0);
  const std::string base = "generate " + Verbs() + " --prompt 'Yesterday I' --max-tokens 40 --json";
  const CliRun stop = Cli(base);
  const CliRun go_on = Cli(base + " --ignore-eos");
  ASSERT_EQ(stop.rc, 0) << stop.out;
  ASSERT_EQ(go_on.rc, 0) << go_on.out;
  const auto s = ParseJson(stop), g = ParseJson(go_on);
  const auto st = s["tokens"].get<std::vector<int>>(), gt = g["tokens"].get<std::vector<int>>();
  // The run that goes on is the reference: the default run is its prefix up to the first EOS.
  const auto first_eos = std::find(gt.begin(), gt.end(), eos);
  ASSERT_NE(first_eos, gt.end()) << "the model was expected to end its sentence within 40 tokens";
  EXPECT_EQ(st, std::vector<int>(gt.begin(), first_eos + 1));
  EXPECT_EQ(s["finish_reason"], "stop");
  EXPECT_EQ(g["finish_reason"], "length");
  EXPECT_EQ(gt.size(), 40u);
  // The end-of-sequence token is reported as a token but is not part of the text.
  EXPECT_EQ(s["text"].get<std::string>().find("</s>"), std::string::npos) << s["text"];
}

// The text streamed to the terminal is the text --json reports, with and without stop strings
// (the stream holds back what could be the start of a stop string).
TEST(CliUsageTest, StreamedTextEqualsJsonTextWithStopStrings) {
  const std::string base = "generate " + Verbs() + " --prompt 'Yesterday I' --max-tokens 12";
  const std::string full = ParseJson(Cli(base + " --json"))["text"];
  ASSERT_GE(full.size(), 8u) << full;
  for (const std::string& stop : {std::string(), full.substr(1, 3), full.substr(full.size() / 2, 2),
                                 std::string("never-generated")}) {
    const std::string flags = stop.empty() ? "" : " --stop '" + stop + "'";
    const auto j = ParseJson(Cli(base + flags + " --json"));
    const CliRun streamed = Cli(base + flags, /*stdout_only=*/true);
    ASSERT_EQ(streamed.rc, 0) << streamed.out;
    // The stream is the text, a newline, then one bracketed summary line.
    const size_t summary = streamed.out.rfind("\n[");
    ASSERT_NE(summary, std::string::npos) << streamed.out;
    EXPECT_EQ(streamed.out.substr(0, summary), j["text"].get<std::string>()) << "stop '" << stop << "'";
    if (!stop.empty() && stop != "never-generated") {
      EXPECT_EQ(j["finish_reason"], "stop");
      EXPECT_EQ(full.find(stop), j["text"].get<std::string>().size());
    }
  }
}

TEST(CliUsageTest, WordsOutsideTheVocabularyAreCountedAndThePromptIdsReported) {
  const std::string prompt = "Once upon a time I";
  std::istringstream words(prompt);
  std::string w;
  int unknown = 0, total = 1;  // + BOS
  for (; words >> w; ++total) unknown += !TokenizerJson()["model"]["vocab"].contains(w);
  ASSERT_GT(unknown, 0);
  const CliRun r = Cli("generate " + Verbs() + " --prompt '" + prompt + "' --max-tokens 2 --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const std::string warning = "detinfer: warning: --prompt: " + std::to_string(unknown) + " of " +
                              std::to_string(total) + " tokens are not in the model's vocabulary";
  EXPECT_NE(r.out.find(warning), std::string::npos) << r.out;
  const auto j = ParseJson(Cli("generate " + Verbs() + " --prompt '" + prompt + "' --max-tokens 2 --json",
                          /*stdout_only=*/true));
  const auto ids = j["prompt_tokens"].get<std::vector<int>>();
  ASSERT_EQ(ids.size(), static_cast<size_t>(total));
  EXPECT_EQ(ids[0], AddedTokenId("<s>"));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), AddedTokenId("<unk>")), unknown);
  // A prompt the vocabulary covers gets no warning.
  const CliRun clean = Cli("generate " + Verbs() + " --prompt 'Yesterday I' --max-tokens 2");
  EXPECT_EQ(clean.out.find("warning"), std::string::npos) << clean.out;
}

// One set of exit codes: 0 success, 1 the command failed, 2 a usage error; every message starts
// with "detinfer:", names the flag as the user wrote it, and suggests the closest name.
TEST(CliUsageTest, ExitCodesAndMessagesNameWhatTheUserTyped) {
  struct Case {
    std::string args;
    int rc;
    std::string expect;
  };
  const std::string m = Verbs();
  const Case cases[] = {
      {"generate " + m + " --promt hi", 2, "unknown flag --promt for 'detinfer generate'"},
      {"generate " + m + " --promt hi", 2, "did you mean --prompt?"},
      {"genrate " + m, 2, "unknown subcommand 'genrate'"},
      {"genrate " + m, 2, "did you mean 'generate'?"},
      {"scroe", 2, "did you mean 'score'?"},
      {"generate " + m + " --prompt hi --max-tokens abc", 2, "--max-tokens"},
      {"generate " + m + " --prompt hi --max-tokens 0", 2, "--max-tokens must be >= 1"},
      {"generate " + m + " --prompt hi --top-p 0", 2, "--top-p must be in (0, 1]"},
      {"generate " + m + " --prompt hi --temperature -1", 2, "--temperature"},
      {"generate " + m + " --prompt hi --ids 1", 2, "exactly one"},
      {"generate", 2, "MODEL is required"},
      {"generate /nonexistent/model.bin --ids 1", 1, "/nonexistent/model.bin"},
      {"generate " + m + " --ids 1,9999", 1, "has id 9999 outside the vocabulary"},
      {"generate " + m + " --ids 1 --kv-dtype q4_0", 2, "--kv-dtype"},
  };
  for (const Case& c : cases) {
    const CliRun r = Cli(c.args);
    EXPECT_EQ(r.rc, c.rc) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.rfind("detinfer: ", 0), 0u) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.find("max_new_tokens"), std::string::npos) << r.out;
  }
  EXPECT_EQ(Cli("--help").rc, 0);
  EXPECT_EQ(Cli("generate --help").rc, 0);
}

TEST(CliUsageTest, RequestsFilesAreCheckedKeyByKey) {
  const std::string gen = "generate " + Verbs() + " --requests ";
  // A one-line file prints JSON, like a longer one.
  const CliRun one = Cli(gen + WriteFile("one.jsonl", "{\"prompt\": \"Yesterday I\"}\n"), true);
  ASSERT_EQ(one.rc, 0) << one.out;
  EXPECT_EQ(ParseJson(one)["id"], "line-1") << one.out;
  // Unknown keys, broken JSON and non-objects fail their line alone, naming it; the others run.
  const CliRun mixed = Cli(gen + WriteFile("mixed.jsonl",
                                           "{\"prompt\": \"Yesterday I\", \"max_new_tokens\": 2}\n"
                                           "{\"prompt\": oops}\n"
                                           "\n"
                                           "[1, 2]\n"
                                           "{\"prompt\": \"Yesterday I\", \"max_tokens\": 2}\n"
                                           "{\"ids\": [2, 4], \"max_tokens\": 1.5}\n"
                                           "{\"max_tokens\": 2}\n"),
                           true);
  EXPECT_EQ(mixed.rc, 1);
  std::vector<nlohmann::json> lines;
  std::istringstream in(mixed.out);
  for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(lines.size(), 6u) << mixed.out;
  auto error = [&](size_t i) { return lines[i].value("error", std::string()); };
  EXPECT_NE(error(0).find("--requests line 1: unknown key \"max_new_tokens\""), std::string::npos)
      << error(0);
  EXPECT_NE(error(1).find("--requests line 2: not valid JSON"), std::string::npos) << error(1);
  EXPECT_NE(error(2).find("--requests line 4: not a JSON object"), std::string::npos) << error(2);
  EXPECT_EQ(error(3), "");
  EXPECT_EQ(lines[3]["tokens"].size(), 2u);
  EXPECT_NE(error(4).find("\"max_tokens\" must be an integer"), std::string::npos) << error(4);
  EXPECT_NE(error(5).find("no prompt"), std::string::npos) << error(5);
  // An empty file is a usage error, not a silent success.
  const CliRun empty = Cli(gen + WriteFile("empty.jsonl", "\n"));
  EXPECT_EQ(empty.rc, 2);
  EXPECT_NE(empty.out.find("has no requests"), std::string::npos) << empty.out;
  // stop_ids is an alias of stop_token_ids (the server's name); both at once is an error.
  const std::string eos = std::to_string(AddedTokenId("</s>"));
  const CliRun alias = Cli(gen + WriteFile("alias.jsonl",
                                           "{\"ids\": [2, 4, 29], \"stop_token_ids\": [131], \"ignore_eos\": true}\n"
                                           "{\"ids\": [2, 4, 29], \"stop_ids\": [131], \"ignore_eos\": true}\n"
                                           "{\"ids\": [2, 4, 29], \"stop_ids\": [1], \"stop_token_ids\": [1]}\n"),
                           true);
  std::istringstream ain(alias.out);
  std::vector<nlohmann::json> a;
  for (std::string l; std::getline(ain, l);) a.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(a.size(), 3u) << alias.out;
  EXPECT_EQ(a[0]["fingerprint"], a[1]["fingerprint"]);
  EXPECT_NE(a[2].value("error", std::string()).find("not both"), std::string::npos) << a[2];
}

TEST(CliUsageTest, HelpShowsEveryDefaultTheSameWay) {
  for (const char* sub : {"generate", "score", "logits", "serve", "verify", "dump-slots"}) {
    const CliRun r = Cli(std::string(sub) + " --help");
    ASSERT_EQ(r.rc, 0) << sub;
    EXPECT_NE(r.out.find("f32 (default)"), std::string::npos) << sub << "\n" << r.out;
    EXPECT_EQ(r.out.find("{false}"), std::string::npos) << sub << "\n" << r.out;
    EXPECT_EQ(r.out.find("{true}"), std::string::npos) << sub << "\n" << r.out;
  }
}

// score takes its completion as text and logits its input as text, encoded as generate encodes
// them: the same tokens give the same bits as the id forms.
TEST(CliUsageTest, ScoreAndLogitsTakeTextLikeGenerate) {
  const auto g = ParseJson(Cli("generate " + Verbs() + " --prompt 'Yesterday I' --max-tokens 3 --json", true));
  const auto prompt = g["prompt_tokens"].get<std::vector<int>>();
  const auto tokens = g["tokens"].get<std::vector<int>>();
  auto join = [](const std::vector<int>& v) {
    std::string s;
    for (int x : v) {
      if (!s.empty()) s += ',';
      s += std::to_string(x);
    }
    return s;
  };
  const auto by_ids = ParseJson(Cli("score " + Verbs() + " --ids " + join(prompt) + " --completion-ids " +
                               join(tokens) + " --json", true));
  const auto by_text = ParseJson(Cli("score " + Verbs() + " --prompt 'Yesterday I' --completion '" +
                                g["text"].get<std::string>() + "' --json", true));
  EXPECT_EQ(by_text["completion_tokens"], g["tokens"]);
  EXPECT_EQ(by_text["fingerprint"], g["fingerprint"]);
  EXPECT_EQ(by_ids["fingerprint"], g["fingerprint"]);
  const auto l_ids = ParseJson(Cli("logits " + Verbs() + " --ids " + join(prompt) + " --json", true));
  const auto l_text = ParseJson(Cli("logits " + Verbs() + " --prompt 'Yesterday I' --json", true));
  ASSERT_FALSE(l_ids.is_discarded());
  EXPECT_EQ(l_ids["logits"], l_text["logits"]);
  EXPECT_EQ(l_text["ids"].get<std::vector<int>>(), prompt);
}

// A file in the wrong place is named for what it is, with the formats detinfer reads, instead of
// a format's parser blaming its own header fields.
TEST(CliUsageTest, NonModelFilesAreNamedForWhatTheyAre) {
  const std::string notes = WriteFile("notes.txt", "try the bigger model next\n");
  const std::string tok = Verbs() + "/tokenizer.json";
  const std::string empty = WriteFile("empty.bin", "");
  for (const auto& [args, expect] : std::initializer_list<std::pair<std::string, std::string>>{
           {"info " + notes, notes + " is a text file, not a model"},
           {"info " + tok, tok + " is a JSON file, not a model"},
           {"generate " + empty + " --ids 1", empty + " is an empty file, not a model"},
           {"generate " + Verbs() + " --tokenizer " + notes + " --prompt hi",
            notes + " is a text file, not a tokenizer"},
       }) {
    const CliRun r = Cli(args);
    EXPECT_EQ(r.rc, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << "\n" << r.out;
    EXPECT_EQ(r.out.find("header field"), std::string::npos) << r.out;
  }
  // A binary file that is not a llama2.c checkpoint either: the message says it was the last
  // format tried.
  const std::string junk = WriteFile("junk.bin", std::string("\x01\x00\x00\x00garbage", 11));
  const CliRun r = Cli("info " + junk);
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("read as a llama2.c checkpoint, the last format tried"), std::string::npos)
      << r.out;
}

// convert picks the format from OUT's name or refuses a name it cannot honour, and the tokenizer
// comes along (or the user is told how to pass it): the converted model answers a text prompt
// with the original's bits.
TEST(CliUsageTest, ConvertKeepsTheTokenizerAndRefusesNamesItCannotWrite) {
  const std::string dir = ::testing::TempDir() + "/cli_convert";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string gen = " --prompt 'Yesterday I' --max-tokens 8 --json";
  const std::string want = ParseJson(Cli("generate " + Verbs() + gen, true))["fingerprint"];
  ASSERT_FALSE(want.empty());

  const CliRun hf = Cli("convert " + Verbs() + " " + dir + "/hf");
  ASSERT_EQ(hf.rc, 0) << hf.out;
  EXPECT_TRUE(std::filesystem::exists(dir + "/hf/tokenizer.json"));
  EXPECT_EQ(ParseJson(Cli("generate " + dir + "/hf" + gen, true))["fingerprint"], want);

  const CliRun gguf = Cli("convert " + Verbs() + " " + dir + "/v.gguf");
  ASSERT_EQ(gguf.rc, 0) << gguf.out;
  const std::string hint = "--tokenizer " + Verbs() + "/tokenizer.json";
  EXPECT_NE(gguf.out.find("warning: the tokenizer"), std::string::npos) << gguf.out;
  EXPECT_NE(gguf.out.find(hint), std::string::npos) << gguf.out;
  EXPECT_EQ(ParseJson(Cli("generate " + dir + "/v.gguf " + hint + gen, true))["fingerprint"], want);

  const CliRun st = Cli("convert " + Verbs() + " " + dir + "/m.safetensors");
  EXPECT_EQ(st.rc, 2) << st.out;
  EXPECT_NE(st.out.find("OUT '" + dir + "/m.safetensors'"), std::string::npos) << st.out;
  EXPECT_FALSE(std::filesystem::exists(dir + "/m.safetensors"));
  const CliRun clash = Cli("convert " + Verbs() + " " + dir + "/w.gguf --format hf");
  EXPECT_EQ(clash.rc, 2) << clash.out;
  EXPECT_NE(clash.out.find("contradicts"), std::string::npos) << clash.out;
}

// info --json: the tokenizer is an object (path, how it was found, special ids), never a path and
// a note in one string; stored fp32 values print in their shortest form, as config.json has them.
TEST(CliUsageTest, InfoJsonNamesTheTokenizerAndPrintsStoredFloatsAsWritten) {
  const CliRun r = Cli("info " + Verbs() + " --json", true);
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto j = ParseJson(r);
  std::ifstream cf(Verbs() + "/config.json");
  const auto config = nlohmann::json::parse(cf);
  // The same decimal text as config.json's, not the fp32 value's 17-digit expansion.
  EXPECT_EQ(j["norm_eps"].dump(), config["rms_norm_eps"].dump()) << r.out;
  EXPECT_EQ(j["tokenizer"]["path"], Verbs() + "/tokenizer.json");
  EXPECT_EQ(j["tokenizer"]["eos_id"], AddedTokenId("</s>"));
  EXPECT_EQ(j["tokenizer"]["unk_id"], AddedTokenId("<unk>"));
  EXPECT_TRUE(j["tokenizer_missing"].is_null());
  // What a token of context costs: K and V of every layer, from config.json's shape.
  const int64_t head_dim = config["head_dim"].get<int64_t>();
  const int64_t kv_heads = config.value("num_key_value_heads", config["num_attention_heads"].get<int64_t>());
  const int64_t per_token = 2 * config["num_hidden_layers"].get<int64_t>() * kv_heads * head_dim;
  EXPECT_EQ(j["kv_bytes_per_token"]["f32"], per_token * 4);
  EXPECT_EQ(j["kv_bytes_per_token"]["bf16"], per_token * 2);
  EXPECT_EQ(j["default_kv_capacity_tokens"], 8 * config["max_position_embeddings"].get<int64_t>());
}

}  // namespace
}  // namespace detinfer
