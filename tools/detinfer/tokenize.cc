// `detinfer tokenize MODEL --prompt TEXT` and `detinfer detokenize MODEL --ids 1,2,3`: the ids
// a text becomes (exactly those generate/score/serve run) and the text ids decode to. Only the
// tokenizer is loaded (the model file is mapped to find it, not packed), so both are instant on
// any model size.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "model/chat_config.h"
#include "model/model_bundle.h"
#include "server/api_request.h"
#include "server/chat_template.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct TokenizeOptions {
  std::string model, tokenizer, prompt, file, chat, chat_template;
  bool have_prompt = false;  // --prompt given (an empty text is a valid one)
  bool no_special = false, json = false, pieces = false;
};

struct DetokenizeOptions {
  std::string model, tokenizer, ids;
  bool json = false, skip_special = false;
};

Result<std::string> ReadTextFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(flag + ": cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Where each token's bytes lie in `text`: the tokens the text produced (without the special
// tokens the tokenizer's rules add around it) decode, token by token, to consecutive stretches
// of the text. When they do not (a normaliser changed the text: NFKC, lowercasing; an unknown
// character became <unk>) there are no offsets, and the JSON says so rather than guess.
struct Offsets {
  bool exact = false;
  std::vector<std::pair<int64_t, int64_t>> span;  // per id of `ids`; {-1, -1} when none
  std::vector<bool> added;  // per id: a special token the rules added, not from the text
};

// --chat FILE: the body /tokenize takes with "messages" ({"messages": [...], "tools": [...],
// "chat_template_kwargs": {...}, "add_generation_prompt": false}), or just the list of messages;
// rendered with the model's chat template (or --chat-template) and encoded as the server would.
Result<std::vector<int32_t>> ChatIds(const TokenizeOptions& o, const ModelTokenizer& t,
                                     std::string* rendered) {
  DETINFER_ASSIGN_OR_RETURN(std::string body, ReadTextFile(o.chat, "--chat"));
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && body[first] == '[') body = "{\"messages\": " + body + "}";
  server::TokenizeRequest req;
  if (auto e = server::ParseTokenizeRequest(body, server::ParseLimits{}, &req)) {
    return Status::InvalidArgument("--chat " + o.chat + ": " + e->message);
  }
  if (!req.is_chat) return Status::InvalidArgument("--chat " + o.chat + ": no \"messages\"");
  DETINFER_ASSIGN_OR_RETURN(ModelChatConfig config, ReadModelChatConfig(o.model, t.path));
  DETINFER_ASSIGN_OR_RETURN(server::ChatFormat format,
                            server::ChatFormat::Choose(o.chat_template, config, t.tokenizer.get()));
  auto text = format.Render(req.chat);
  if (!text.ok()) {
    return Status::InvalidArgument("--chat " + o.chat + ": the chat template (" +
                                   std::string(format.name()) + ", " + format.origin() +
                                   ") refused it: " + text.status().message());
  }
  *rendered = *text;
  auto ids = format.Encode(*t.tokenizer, *text, req.add_special_tokens);  // as the server does
  if (!ids.ok()) return Status::InvalidArgument("--chat: " + ids.status().message());
  WarnUnknownTokens(*t.tokenizer, "--chat", *ids);
  return ids;
}

Offsets TokenOffsets(const Tokenizer& tok, const std::string& text,
                     const std::vector<int32_t>& ids) {
  Offsets o;
  o.span.assign(ids.size(), {-1, -1});
  o.added.assign(ids.size(), false);
  auto plain = tok.Encode(text, /*add_special_tokens=*/false);
  if (!plain.ok()) return o;
  // The rules only add tokens around the text, so the text's own ids are a contiguous run.
  const auto it = std::search(ids.begin(), ids.end(), plain->begin(), plain->end());
  if (it == ids.end() && !plain->empty()) return o;
  const size_t first = static_cast<size_t>(it - ids.begin());
  for (size_t i = 0; i < ids.size(); ++i) o.added[i] = i < first || i >= first + plain->size();
  std::string decoded;
  int32_t prev = -1;
  for (size_t i = 0; i < plain->size(); ++i) {
    auto bytes = tok.TokenBytes((*plain)[i], prev);
    if (!bytes.ok()) return o;
    o.span[first + i] = {static_cast<int64_t>(decoded.size()),
                         static_cast<int64_t>(decoded.size() + bytes->size())};
    decoded += *bytes;
    prev = (*plain)[i];
  }
  o.exact = decoded == text;
  if (!o.exact) o.span.assign(ids.size(), {-1, -1});
  return o;
}

int RunTokenize(const TokenizeOptions& o) {
  if (int(o.have_prompt) + int(!o.file.empty()) + int(!o.chat.empty()) != 1) {
    return Fail(Status::InvalidArgument(
        "give the text as --prompt, --file or --chat (exactly one)"));
  }
  auto t = LoadModelTokenizer(o.model, o.tokenizer);
  if (!t.ok()) return Fail(t.status());
  std::string text = o.prompt;
  Result<std::vector<int32_t>> ids = std::vector<int32_t>{};
  if (!o.chat.empty()) {
    if (!t->tokenizer) {
      return Fail(Status::InvalidArgument("--chat needs a tokenizer (" + t->source + ")"));
    }
    ids = ChatIds(o, *t, &text);
  } else {
    if (!o.file.empty()) {
      auto r = ReadTextFile(o.file, "--file");
      if (!r.ok()) return Fail(r.status());
      text = std::move(r).value();
    }
    ids = EncodeText(t->tokenizer.get(), t->source, o.file.empty() ? "--prompt" : "--file", text,
                     !o.no_special);
  }
  if (!ids.ok()) return Fail(ids.status());
  const Tokenizer& tok = *t->tokenizer;
  if (!o.json && !o.pieces) {
    // One line, in the form --ids takes.
    std::string line;
    for (size_t i = 0; i < ids->size(); ++i) {
      if (i > 0) line += ',';
      line += std::to_string((*ids)[i]);
    }
    std::printf("%s\n", line.c_str());
    return kExitOk;
  }
  const Offsets off = TokenOffsets(tok, text, *ids);
  if (o.pieces) {
    std::printf("%6s %8s  %-12s %s\n", "index", "id", "bytes", "piece");
    for (size_t i = 0; i < ids->size(); ++i) {
      auto piece = tok.TokenText((*ids)[i]);
      const auto [b, e] = off.span[i];
      const std::string range = off.added[i] ? std::string("(added)")
                                : b < 0    ? std::string("-")
                                           : std::to_string(b) + ".." + std::to_string(e);
      std::printf("%6zu %8d  %-12s %s\n", i, (*ids)[i], range.c_str(),
                  piece.ok() ? std::string(*piece).c_str() : "?");
    }
    if (!off.exact) {
      std::printf("(no byte offsets: the tokens decode to different text than the input, e.g. "
                  "after normalisation)\n");
    }
    return kExitOk;
  }
  nlohmann::json tokens = nlohmann::json::array();
  for (size_t i = 0; i < ids->size(); ++i) {
    auto piece = tok.TokenText((*ids)[i]);
    nlohmann::json e = {{"id", (*ids)[i]},
                        {"piece", piece.ok() ? std::string(*piece) : std::string()},
                        {"special_added", bool(off.added[i])}};
    if (off.exact && off.span[i].first >= 0) {
      e["start"] = off.span[i].first;
      e["end"] = off.span[i].second;
    }
    tokens.push_back(std::move(e));
  }
  nlohmann::json j = {{"ids", *ids},
                            {"count", ids->size()},
                            {"add_special_tokens", !o.no_special},
                            {"byte_offsets", off.exact},
                            {"tokens", tokens},
                            {"tokenizer", {{"path", t->path}, {"found", t->source}}}};
  if (!o.chat.empty()) j["rendered"] = text;  // the prompt text the chat template made
  std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return kExitOk;
}

int RunDetokenize(const DetokenizeOptions& o) {
  auto ids = ParseIds("--ids", o.ids);
  if (!ids.ok()) return Fail(ids.status());
  auto t = LoadModelTokenizer(o.model, o.tokenizer);
  if (!t.ok()) return Fail(t.status());
  if (!t->tokenizer) {
    return Fail(Status::InvalidArgument("detokenize needs a tokenizer (" + t->source +
                                        "): --tokenizer FILE"));
  }
  auto text = t->tokenizer->Decode(*ids, {.skip_special_tokens = o.skip_special});
  if (!text.ok()) return Fail(Status::InvalidArgument("--ids: " + text.status().message()));
  if (o.json) {
    nlohmann::json j = {{"ids", *ids}, {"text", *text}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s\n", text->c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterTokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print the token ids of a text (as generate, score and serve encode it)");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  CLI::Option* prompt = cmd->add_option("--prompt", o->prompt, "Text to encode");
  cmd->add_option("--file", o->file, "Read the text from a file (bytes as they are)");
  cmd->add_option("--chat", o->chat,
                  "A conversation (JSON: a list of messages, or /tokenize's body with "
                  "\"messages\", \"tools\", \"chat_template_kwargs\"), rendered with the chat "
                  "template as the server does");
  cmd->add_option("--chat-template", o->chat_template,
                  "For --chat: a Jinja file, or chatml or llama3 (default: the model's own)");
  cmd->add_option("--tokenizer", o->tokenizer, kTokenizerHelp);
  cmd->add_flag("--no-special-tokens", o->no_special,
                "Do not add the tokenizer's own special tokens (BOS, ...)");
  cmd->add_flag("--pieces", o->pieces, "A table: id, byte range in the text, vocabulary piece");
  cmd->add_flag("--json", o->json, "JSON: ids, pieces, byte offsets");
  cmd->callback([o, prompt] {
    o->have_prompt = prompt->count() > 0;
    std::exit(RunTokenize(*o));
  });

  auto d = std::make_shared<DetokenizeOptions>();
  CLI::App* dcmd = app.add_subcommand("detokenize", "Print the text of token ids");
  dcmd->add_option("MODEL", d->model, "Model file or Hugging Face directory")->required();
  dcmd->add_option("--ids", d->ids, "Token ids, e.g. 1,2,3")->required();
  dcmd->add_option("--tokenizer", d->tokenizer, kTokenizerHelp);
  dcmd->add_flag("--skip-special-tokens", d->skip_special,
                 "Leave out special tokens (<s>, </s>, ...), as generated text does");
  dcmd->add_flag("--json", d->json, "Print JSON");
  dcmd->callback([d] { std::exit(RunDetokenize(*d)); });
}

}  // namespace detinfer::cli
