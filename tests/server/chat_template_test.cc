// Chat templates against the text the models' own Jinja templates produce (written out by hand
// from the templates' definitions, not from our output).
#include "server/chat_template.h"

#include <gtest/gtest.h>

namespace detinfer::server {
namespace {

const std::vector<ChatMessage> kMessages = {{"system", "You are terse."},
                                            {"user", "  Hi there\n"},
                                            {"assistant", "Hello."},
                                            {"user", "Bye"}};

TEST(ChatTemplateTest, ChatMl) {
  EXPECT_EQ(RenderChat(ChatTemplate::kChatMl, kMessages),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\n  Hi there\n<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, Llama3TrimsContent) {
  EXPECT_EQ(RenderChat(ChatTemplate::kLlama3, kMessages),
            "<|begin_of_text|>"
            "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, NamesAndDetection) {
  EXPECT_EQ(*ParseChatTemplateName("chatml"), ChatTemplate::kChatMl);
  EXPECT_EQ(*ParseChatTemplateName("llama3"), ChatTemplate::kLlama3);
  const auto bad = ParseChatTemplateName("vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("vicuna"), std::string::npos);
  EXPECT_EQ(DetectChatTemplate(nullptr), ChatTemplate::kChatMl);
  EXPECT_TRUE(EndOfTurnIds(ChatTemplate::kChatMl, nullptr).empty());
}

}  // namespace
}  // namespace detinfer::server
