// ParseCompletionRequest / ParseScoreRequest: every accepted form and every error, which must
// name the field at fault.
#include "server/api_request.h"

#include <gtest/gtest.h>

namespace detinfer::server {
namespace {

CompletionRequest Ok(const std::string& body, ApiKind kind = ApiKind::kCompletion) {
  CompletionRequest r;
  const auto e = ParseCompletionRequest(body, kind, ParseLimits{}, &r);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->message : "");
  return r;
}

ApiError Err(const std::string& body, ApiKind kind = ApiKind::kCompletion) {
  CompletionRequest r;
  const auto e = ParseCompletionRequest(body, kind, ParseLimits{}, &r);
  EXPECT_TRUE(e.has_value()) << body;
  return e.value_or(ApiError{});
}

TEST(ApiRequestTest, PromptFormsAndDefaults) {
  CompletionRequest r = Ok(R"({"prompt": "hello"})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_TRUE(r.prompts[0].is_text);
  EXPECT_EQ(r.prompts[0].text, "hello");
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.temperature, 1.0f);  // OpenAI's default
  EXPECT_EQ(r.seed, 0u);
  r = Ok(R"({"prompt": [5, 6, 7]})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].ids, (std::vector<int32_t>{5, 6, 7}));
  r = Ok(R"({"prompt": ["a", [1, 2], "b"]})");
  ASSERT_EQ(r.prompts.size(), 3u);
  EXPECT_EQ(r.prompts[1].ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(r.prompts[2].text, "b");
}

TEST(ApiRequestTest, SamplingFieldsAndExtensions) {
  const CompletionRequest r = Ok(
      R"({"prompt": [1], "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "top_k": 40,
          "min_p": 0.1, "seed": 18446744073709551615, "stop": ["\n", "x"], "logprobs": 3,
          "echo": true, "stream": true, "stream_options": {"include_usage": true},
          "stop_token_ids": [2], "ignore_eos": true, "n": 1, "presence_penalty": 0,
          "user": "me"})");
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_EQ(r.temperature, 0.5f);
  EXPECT_EQ(r.top_p, 0.9f);
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.min_p, 0.1f);
  EXPECT_EQ(r.seed, 18446744073709551615ull);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "x"}));
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_TRUE(r.echo && r.stream && r.include_usage && r.ignore_eos);
  EXPECT_EQ(r.stop_token_ids, (std::vector<int32_t>{2}));
  EXPECT_TRUE(r.ignored_fields.empty());
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(Ok(R"({"prompt": [1, 2], "n": 8})").n, 8);
  EXPECT_EQ(Ok(R"({"prompt": [1], "n": 128})").n, 128);
  EXPECT_EQ(Ok(R"({"prompt": [1], "n": 3, "stream": true})").n, 3);
  EXPECT_EQ(Ok(R"({"prompt": ["a", [2]], "stream": true})").prompts.size(), 2u);
  EXPECT_EQ(Ok(R"({"prompt": [1], "max_tokens": 3.0})").max_tokens, 3);
  EXPECT_EQ(Ok(R"({"prompt": [1], "top_k": -1})").top_k, 0);
}

// Penalties and min_tokens are read (engine/penalties.h); values out of OpenAI's / vLLM's ranges
// are refused naming the field.
TEST(ApiRequestTest, PenaltiesAndMinTokens) {
  const CompletionRequest r = Ok(
      R"({"prompt": [1], "repetition_penalty": 1.3, "presence_penalty": -0.5,
          "frequency_penalty": 2, "min_tokens": 4})");
  EXPECT_EQ(r.repetition_penalty, 1.3f);
  EXPECT_EQ(r.presence_penalty, -0.5f);
  EXPECT_EQ(r.frequency_penalty, 2.0f);
  EXPECT_EQ(r.min_tokens, 4);
  EXPECT_TRUE(r.ignored_fields.empty());
  const CompletionRequest d = Ok(R"({"prompt": [1], "presence_penalty": null})");
  EXPECT_EQ(d.repetition_penalty, 1.0f);
  EXPECT_EQ(d.presence_penalty, 0.0f);
  EXPECT_EQ(d.min_tokens, 0);
  const std::pair<const char*, const char*> bad[] = {
      {R"({"prompt": [1], "presence_penalty": 2.5})", "presence_penalty"},
      {R"({"prompt": [1], "frequency_penalty": -3})", "frequency_penalty"},
      {R"({"prompt": [1], "repetition_penalty": 0})", "repetition_penalty"},
      {R"({"prompt": [1], "repetition_penalty": -1})", "repetition_penalty"},
      {R"({"prompt": [1], "min_tokens": -1})", "min_tokens"},
      {R"({"prompt": [1], "min_tokens": "4"})", "min_tokens"}};
  for (const auto& [body, param] : bad) {
    const ApiError e = Err(body);
    EXPECT_EQ(e.param, param) << body << ": " << e.message;
    EXPECT_NE(e.message.find(param), std::string::npos) << e.message;
  }
}

// What needs constrained decoding is refused with a message, never ignored; the neutral values
// OpenAI clients send by default are accepted.
TEST(ApiRequestTest, StructuredOutputAndForcedToolCallsAreRefused) {
  const char* chat_head = R"({"messages": [{"role": "user", "content": "x"}], )";
  const auto chat = [&](const std::string& tail) { return std::string(chat_head) + tail + "}"; };
  EXPECT_TRUE(Ok(chat(R"("response_format": {"type": "text"})"), ApiKind::kChat)
                  .ignored_fields.empty());
  EXPECT_TRUE(Ok(chat(R"("tool_choice": "auto", "parallel_tool_calls": true)"), ApiKind::kChat)
                  .ignored_fields.empty());
  EXPECT_TRUE(Ok(chat(R"("tool_choice": "none")"), ApiKind::kChat).ignored_fields.empty());
  for (const char* tail : {R"("response_format": {"type": "json_object"})",
                           R"("response_format": {"type": "json_schema", "json_schema": {}})"}) {
    const ApiError e = Err(chat(tail), ApiKind::kChat);
    EXPECT_EQ(e.param, "response_format") << tail;
    EXPECT_NE(e.message.find("not supported"), std::string::npos) << e.message;
  }
  for (const char* tail : {R"("tool_choice": "required")",
                           R"("tool_choice": {"type": "function", "function": {"name": "f"}})"}) {
    const ApiError e = Err(chat(tail), ApiKind::kChat);
    EXPECT_EQ(e.param, "tool_choice") << tail;
    EXPECT_NE(e.message.find("constrained decoding"), std::string::npos) << e.message;
  }
}

// `stop_ids` (the name `detinfer generate --requests` uses) is an alias of `stop_token_ids`;
// sending both is ambiguous and refused.
TEST(ApiRequestTest, StopIdsIsAnAliasOfStopTokenIds) {
  EXPECT_EQ(Ok(R"({"prompt": [1], "stop_ids": [2, 5]})").stop_token_ids,
            (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(Ok(R"({"messages": [{"role": "user", "content": "x"}], "stop_ids": [4]})",
               ApiKind::kChat)
                .stop_token_ids,
            std::vector<int32_t>{4});
  EXPECT_TRUE(Ok(R"({"prompt": [1], "stop_ids": [2]})").ignored_fields.empty());
  const ApiError both = Err(R"({"prompt": [1], "stop_token_ids": [2], "stop_ids": [2]})");
  EXPECT_EQ(both.param, "stop_ids");
  EXPECT_NE(both.message.find("only one"), std::string::npos) << both.message;
  const ApiError bad = Err(R"({"prompt": [1], "stop_ids": 2})");
  EXPECT_EQ(bad.param, "stop_ids");
  EXPECT_NE(bad.message.find("'stop_ids' must be a list"), std::string::npos) << bad.message;
}

TEST(ApiRequestTest, ChatMessages) {
  const CompletionRequest r = Ok(
      R"({"messages": [{"role": "system", "content": "be brief"},
                       {"role": "user", "content": [{"type": "text", "text": "a"},
                                                    {"type": "text", "text": "b"}]}],
          "logprobs": true, "top_logprobs": 2})",
      ApiKind::kChat);
  ASSERT_EQ(r.chat.messages.size(), 2u);
  EXPECT_EQ(r.chat.messages[1].role, "user");
  EXPECT_EQ(r.chat.messages[1].content, "ab");
  // The messages as a model's template sees them: as sent, parts joined.
  EXPECT_EQ(r.chat.raw.dump(), R"([{"role":"system","content":"be brief"},{"role":"user","content":"ab"}])");
  EXPECT_FALSE(r.chat.tools.has_value());
  EXPECT_TRUE(r.chat.add_generation_prompt);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 2);
  // Fields a template reads keep the order they were sent in (its tojson prints them so), and
  // extra message fields pass through.
  const CompletionRequest t = Ok(
      R"({"messages": [{"role": "assistant", "content": null,
                        "tool_calls": [{"function": {"name": "f", "arguments": {"z": 1, "a": 2}}}]}],
          "tools": [{"type": "function", "function": {"name": "f", "parameters": {"z": {}, "a": {}}}}],
          "chat_template_kwargs": {"enable_thinking": false}, "add_generation_prompt": false})",
      ApiKind::kChat);
  EXPECT_TRUE(t.ignored_fields.empty());
  EXPECT_EQ(t.chat.raw[0]["tool_calls"][0]["function"]["arguments"].dump(), R"({"z":1,"a":2})");
  ASSERT_TRUE(t.chat.tools.has_value());
  EXPECT_EQ((*t.chat.tools)[0]["function"]["parameters"].dump(), R"({"z":{},"a":{}})");
  EXPECT_EQ(t.chat.kwargs.dump(), R"({"enable_thinking":false})");
  EXPECT_FALSE(t.chat.add_generation_prompt);
  EXPECT_EQ(Err(R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", ApiKind::kChat)
                .param,
            "tools");
  EXPECT_EQ(Err(R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": []})",
                ApiKind::kChat)
                .param,
            "chat_template_kwargs");
  // "prompt" means nothing to chat: it is an unknown field there.
  EXPECT_EQ(Ok(R"({"messages": [{"role": "user", "content": "x"}], "prompt": "y"})",
               ApiKind::kChat)
                .ignored_fields,
            std::vector<std::string>{"prompt"});
}

TEST(ApiRequestTest, UnknownFieldsAreListed) {
  EXPECT_EQ(Ok(R"({"prompt": [1], "zeta": 1, "alpha": {}})").ignored_fields,
            (std::vector<std::string>{"alpha", "zeta"}));
}

TEST(ApiRequestTest, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
    ApiKind kind = ApiKind::kCompletion;
  };
  const Case cases[] = {
      {R"({"prompt": [1], "max_tokens": 0})", "max_tokens"},
      {R"({"prompt": [1], "max_tokens": 2.5})", "max_tokens"},
      {R"({"prompt": [1], "max_tokens": 99999999999})", "max_tokens"},
      {R"({"prompt": [1], "temperature": "hot"})", "temperature"},
      {R"({"prompt": [1], "top_p": 0})", "top_p"},
      {R"({"prompt": [1], "top_p": 1.5})", "top_p"},
      {R"({"prompt": [1], "min_p": -0.1})", "min_p"},
      {R"({"prompt": [1], "seed": 1.5})", "seed"},
      {R"({"prompt": [1], "stop": 3})", "stop"},
      {R"({"prompt": [1], "stop": [""]})", "stop"},
      {R"({"prompt": [1], "logprobs": 21})", "logprobs"},
      {R"({"prompt": [1], "echo": 1})", "echo"},
      {R"({"prompt": [1], "n": 0})", "n"},
      {R"({"prompt": [1], "n": 129})", "n"},
      {R"({"prompt": [1], "n": 1.5})", "n"},
      {R"({"prompt": [1], "best_of": 3})", "best_of"},
      {R"({"prompt": [1], "logit_bias": {"1": 5}})", "logit_bias"},
      {R"({"prompt": [1, "a"]})", "prompt"},
      {R"({"prompt": [1, 2147483648]})", "prompt"},
      {R"({"prompt": []})", "prompt"},
      {R"({"prompt": ["a", 5]})", "prompt[1]"},
      {R"({"prompt": [1], "model": 5})", "model"},
      {R"({"prompt": [1], "stop_token_ids": 2})", "stop_token_ids"},
      {R"({"messages": []})", "messages", ApiKind::kChat},
      {R"({"messages": [{"role": "robot", "content": "x"}]})", "messages[0].role", ApiKind::kChat},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content", ApiKind::kChat},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content", ApiKind::kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs",
       ApiKind::kChat},
  };
  for (const Case& c : cases) {
    const ApiError e = Err(c.body, c.kind);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_NE(e.message.find(c.param), std::string::npos) << c.body << " -> " << e.message;
  }
}

// A number out of range says so and names the range (OpenAI: "seed" is an integer in
// [-2^63, 2^64)); an integer literal beyond 64 bits, which JSON parsers read as a float, is out
// of range, not "not an integer".
TEST(ApiRequestTest, OutOfRangeNamesTheRange) {
  struct Case {
    const char* body;
    const char* param;
    const char* message;
  };
  const Case cases[] = {
      {R"({"prompt": [1], "seed": 18446744073709551616})", "seed",
       "'seed' must be in [-9223372036854775808, 18446744073709551615], got "},
      {R"({"prompt": [1], "seed": -9223372036854775809})", "seed",
       "'seed' must be in [-9223372036854775808, 18446744073709551615], got "},
      {R"({"prompt": [1], "seed": 1e30})", "seed", "'seed' must be in [-9223372036854775808, "},
      {R"({"prompt": [1], "max_tokens": 99999999999999999999})", "max_tokens",
       "'max_tokens' must be in [0, 2147483647], got "},
      {R"({"prompt": [1], "max_tokens": -99999999999999999999})", "max_tokens",
       "'max_tokens' must be in [0, 2147483647], got "},
      {R"({"prompt": [1], "top_k": 1e30})", "top_k", "'top_k' must be in [-1, 2147483647], got "},
      {R"({"prompt": [1], "logprobs": 21})", "logprobs", "'logprobs' must be in [0, 20], got 21"},
      {R"({"prompt": [1], "temperature": 101})", "temperature",
       "'temperature' must be in [0, 100], got 101"},
      {R"({"prompt": [1], "top_p": 1.5})", "top_p", "'top_p' must be in [0, 1], got 1.5"},
      {R"({"prompt": [1], "seed": 1.5})", "seed", "'seed' must be an integer"},
      {R"({"prompt": [1], "max_tokens": 2.5})", "max_tokens", "'max_tokens' must be an integer"},
  };
  for (const Case& c : cases) {
    const ApiError e = Err(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_EQ(e.message.rfind(c.message, 0), 0u) << c.body << " -> " << e.message;
  }
  // The ends of the range, and integral floats inside it, are seeds.
  EXPECT_EQ(Ok(R"({"prompt": [1], "seed": 18446744073709551615})").seed, 18446744073709551615ull);
  EXPECT_EQ(Ok(R"({"prompt": [1], "seed": -9223372036854775808})").seed, 1ull << 63);
  EXPECT_EQ(Ok(R"({"prompt": [1], "seed": -1})").seed, 18446744073709551615ull);
  EXPECT_EQ(Ok(R"({"prompt": [1], "seed": 7.0})").seed, 7u);
  EXPECT_EQ(Ok(R"({"prompt": [1], "seed": 1e19})").seed, 10000000000000000000ull);
}

TEST(ApiRequestTest, MalformedBodies) {
  for (const std::string& body : {std::string(""), std::string("{"), std::string("nul"),
                                 std::string("[]"), std::string("\"x\""),
                                 std::string("{\"prompt\": [1]} trailing"),
                                 std::string(10000, '[') + std::string(10000, ']'),
                                 std::string("{\"prompt\": \"\xff\xfe\"}")}) {
    const ApiError e = Err(body);
    EXPECT_EQ(e.status, 400);
    EXPECT_FALSE(e.message.empty());
  }
}

// A body that is not JSON says what is wrong and at which byte (the 0-based offset of the
// offending byte, or the body's length at its end; counted by hand here), not just "not valid".
TEST(ApiRequestTest, JsonErrorsSayWhatAndWhere) {
  struct JsonCase {
    std::string body;
    const char* what;
    const char* where;  // "at byte N", or nullptr when the error has no position
  };
  const JsonCase cases[] = {
      {"{\"prompt\": [1, 2", "unexpected end of input", "at byte 16"},
      {"{\"prompt\": \"a\xff\"}", "UTF-8", "at byte 13"},
      {"{\"prompt\": [1], \"seed\": 1e999}", "overflow", nullptr},
      {"{\"prompt\" [1]}", "expected ':'", "at byte 10"},
  };
  for (const JsonCase& c : cases) {
    const ApiError e = Err(c.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(e.message.find("not valid JSON"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find(c.what), std::string::npos) << c.body << " -> " << e.message;
    if (c.where != nullptr) {
      EXPECT_NE(e.message.find(c.where), std::string::npos) << c.body << " -> " << e.message;
    }
    EXPECT_EQ(e.message.find("json.exception"), std::string::npos) << e.message;
  }
}

TEST(ApiRequestTest, Score) {
  ScoreRequest r;
  EXPECT_FALSE(ParseScoreRequest(R"({"prompt": [1, 2], "completion": "x", "k": 1})",
                                 ParseLimits{}, &r));
  EXPECT_EQ(r.prompt.ids, (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(r.completion.is_text);
  EXPECT_EQ(r.ignored_fields, std::vector<std::string>{"k"});
  const auto e = ParseScoreRequest(R"({"prompt": [1], "completion": [[1], [2]]})", ParseLimits{}, &r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "completion");
}

}  // namespace
}  // namespace detinfer::server
