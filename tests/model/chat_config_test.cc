// ReadModelChatConfig: a model's chat template and end-of-turn ids from the files Hugging Face
// writes and from GGUF metadata; malformed files are errors naming the file.
#include "model/chat_config.h"

#include <gtest/gtest.h>

#include "model/gguf_writer.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/writer_test_util.h"

namespace detinfer {
namespace {

using testing::TempDir;
using testing::WriteText;

TEST(ChatConfigTest, HuggingFaceFiles) {
  TempDir dir;
  WriteText(dir.file("tokenizer_config.json"),
            R"({"bos_token": {"content": "<|begin|>"}, "eos_token": "<|end|>",
                "chat_template": "{{ messages[0].content }}"})");
  WriteText(dir.file("generation_config.json"), R"({"eos_token_id": [9, 7, 9]})");
  auto c = ReadModelChatConfig(dir.path(), ModelFormat::kHuggingFace, "");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->chat_template, "{{ messages[0].content }}");
  EXPECT_NE(c->chat_template_origin.find("tokenizer_config.json (chat_template)"), std::string::npos);
  EXPECT_EQ(c->bos_token, "<|begin|>");
  EXPECT_EQ(c->eos_token, "<|end|>");
  EXPECT_EQ(c->end_ids, (std::vector<int32_t>{7, 9}));

  // A single id; the template in chat_template.jinja (no chat_template key).
  TempDir side;
  WriteText(side.file("tokenizer_config.json"), R"({"bos_token": "<s>"})");
  WriteText(side.file("chat_template.jinja"), "{{ 'from the side file' }}");
  WriteText(side.file("generation_config.json"), R"({"eos_token_id": 2})");
  auto s = ReadModelChatConfig(side.path(), ModelFormat::kHuggingFace, "");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->chat_template, "{{ 'from the side file' }}");
  EXPECT_NE(s->chat_template_origin.find("chat_template.jinja"), std::string::npos);
  EXPECT_EQ(s->end_ids, std::vector<int32_t>{2});

  // Nothing shipped: empty fields, no error.
  TempDir empty;
  auto e = ReadModelChatConfig(empty.path(), ModelFormat::kHuggingFace, "");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->chat_template.empty());
  EXPECT_TRUE(e->end_ids.empty());
}

TEST(ChatConfigTest, MalformedFilesNameTheFile) {
  for (const auto& [file, text, says] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"generation_config.json", R"({"eos_token_id": "two"})", "eos_token_id"},
           {"generation_config.json", R"({"eos_token_id": [1, "x"]})", "eos_token_id"},
           {"generation_config.json", "not json", "generation_config.json"},
           {"tokenizer_config.json", "[1, 2]", "tokenizer_config.json"},
           {"tokenizer_config.json", R"({"chat_template": 5})", "chat_template"}}) {
    TempDir dir;
    WriteText(dir.file(file), text);
    auto c = ReadModelChatConfig(dir.path(), ModelFormat::kHuggingFace, "");
    ASSERT_FALSE(c.ok()) << file << ": " << text;
    EXPECT_NE(c.status().message().find(file), std::string::npos) << c.status().ToString();
    EXPECT_NE(c.status().message().find(says), std::string::npos) << c.status().ToString();
  }
}

TEST(ChatConfigTest, GgufMetadata) {
  auto w = InitRandomModel(testing::SmallConfig(Arch::kLlama), 3, DType::kF32);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  GgufValue tmpl;
  tmpl.type = GgufType::kString;
  tmpl.str = "{% for m in messages %}{{ m.content }}{% endfor %}";
  GgufValue eos, eot;
  eos.type = eot.type = GgufType::kU32;
  eos.u = 2;
  eot.u = 5;
  const std::vector<GgufExtraKv> extra = {{"tokenizer.chat_template", &tmpl},
                                          {"tokenizer.ggml.eos_token_id", &eos},
                                          {"tokenizer.ggml.eot_token_id", &eot}};
  TempDir dir;
  const std::string path = dir.file("m.gguf");
  ASSERT_TRUE(WriteGguf(*w, path, extra).ok());
  auto c = ReadModelChatConfig(path, "");  // the format told from the file
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->chat_template, std::string(tmpl.str));
  EXPECT_NE(c->chat_template_origin.find("tokenizer.chat_template"), std::string::npos);
  EXPECT_EQ(c->end_ids, (std::vector<int32_t>{2, 5}));
  EXPECT_FALSE(c->bos_token.has_value());  // a GGUF file names ids, not strings

  // Without any of them: empty.
  TempDir bare;
  ASSERT_TRUE(WriteGguf(*w, bare.file("m.gguf")).ok());
  auto b = ReadModelChatConfig(bare.file("m.gguf"), "");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(b->chat_template.empty());
  EXPECT_TRUE(b->end_ids.empty());
}

}  // namespace
}  // namespace detinfer
