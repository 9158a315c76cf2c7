#include "tokenizer/vocab_tokenizer.h"

#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/regex_split.h"
#include "tokenizer/score_bpe.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace {

Result<std::unique_ptr<Tokenizer>> MakeGpt2(GgufVocab v) {
  const std::string& src = v.source;
  std::string_view pattern;
  if (v.pre == "gpt-2" || v.pre == "default" || v.pre.empty()) {
    pattern = kGpt2Pattern;
  } else if (v.pre == "llama-bpe" || v.pre == "llama3") {
    pattern = kLlama3Pattern;
  } else if (v.pre == "qwen2") {
    pattern = kQwen2Pattern;
  } else {
    return Status::Unsupported(src + ": tokenizer.ggml.pre '" + v.pre +
                               "' is not supported (gpt-2, default, llama-bpe, llama3, qwen2 are)");
  }
  if (!v.types.empty() && v.types.size() != v.tokens.size()) {
    return Status::InvalidArgument(src + ": " + std::to_string(v.tokens.size()) + " tokens but " +
                                   std::to_string(v.types.size()) + " token types");
  }
  if (v.tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return Status::InvalidArgument(src + ": too many tokens");
  }
  ByteLevelBpeParts parts;
  parts.source = src;
  parts.vocab.reserve(v.tokens.size());
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    const int32_t type = v.types.empty() ? 1 : v.types[i];
    if (type == 3 || type == 4) {
      parts.added_tokens.push_back(AddedToken{v.tokens[i], id, false, false, type == 3});
    } else {
      parts.vocab.emplace_back(std::move(v.tokens[i]), id);
    }
  }
  parts.merges.reserve(v.merges.size());
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    const size_t sp = m.find(' ', 1);  // llama.cpp's split: the left side is never empty
    if (sp == std::string::npos || sp + 1 >= m.size()) {
      return Status::InvalidArgument(src + ": tokenizer.ggml.merges[" + std::to_string(i) + "] '" +
                                     m + "' is not two tokens separated by a space");
    }
    parts.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  DETINFER_ASSIGN_OR_RETURN(RegexSplitter split,
                            RegexSplitter::Compile(pattern, false, SplitBehavior::kIsolated,
                                                   src + ": pre-tokenizer '" + v.pre + "'"));
  parts.pre_tokenizer.push_back({PreTokenizerStep::Kind::kSplit, std::move(split)});
  parts.unk_id = v.unk_id;
  parts.bos_id = v.bos_id;
  parts.eos_id = v.eos_id;
  return MakeByteLevelBpe(std::move(parts));
}

// BOS / EOS as tokenizer.ggml.add_bos_token / add_eos_token say; control tokens are special.
SpecialTokenRules GgufRules(const GgufVocab& v) {
  SpecialTokenRules r;
  if (v.add_bos && v.bos_id >= 0) r.prefix.push_back(v.bos_id);
  if (v.add_eos && v.eos_id >= 0) r.suffix.push_back(v.eos_id);
  for (size_t i = 0; i < v.types.size() && i < v.tokens.size(); ++i) {
    if (v.types[i] == 3) r.special.push_back(static_cast<int32_t>(i));
  }
  r.bos_id = v.bos_id;
  r.eos_id = v.eos_id;
  return r;
}

Result<std::unique_ptr<Tokenizer>> MakeGgufTokenizerModel(GgufVocab vocab) {
  if (vocab.tokens.empty()) {
    return Status::InvalidArgument(vocab.source + ": tokenizer.ggml.tokens is empty");
  }
  if (vocab.model == "gpt2") return MakeGpt2(std::move(vocab));
  if (vocab.model != "llama") {
    return Status::Unsupported(vocab.source + ": tokenizer.ggml.model '" + vocab.model +
                               "' is not supported (llama, gpt2 are)");
  }
  ScoreBpeParts parts;
  parts.flavor = ScoreBpeParts::Flavor::kLlamaCpp;
  parts.source = std::move(vocab.source);
  parts.tokens = std::move(vocab.tokens);
  parts.scores = std::move(vocab.scores);
  parts.types = std::move(vocab.types);
  parts.bos_id = vocab.bos_id;
  parts.eos_id = vocab.eos_id;
  parts.unk_id = vocab.unk_id;
  parts.add_space_prefix = vocab.add_space_prefix;
  return MakeScoreBpe(std::move(parts));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> MakeGgufTokenizer(GgufVocab vocab) {
  SpecialTokenRules rules = GgufRules(vocab);
  const std::string source = vocab.source;
  DETINFER_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> t, MakeGgufTokenizerModel(std::move(vocab)));
  return WithSpecialTokenRules(std::move(t), std::move(rules), source);
}

}  // namespace detinfer
