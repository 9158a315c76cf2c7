// HfPipeline's normalizer stage: what the tokenizers crate's normalizers do to each segment
// between raw added tokens.
#include <unicode/locid.h>
#include <unicode/unistr.h>

#include "tokenizer/added_tokens.h"
#include "tokenizer/hf_pipeline_internal.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace hf_pipeline_internal {
namespace {

// Rust's char::to_lowercase for each character (the full mapping, no context: tokenizers'
// NormalizedString::lowercase maps character by character, so a final sigma stays σ).
void AppendLowercase(std::string_view text, std::string* out) {
  for (size_t pos = 0; pos < text.size();) {
    const auto c = static_cast<uint8_t>(text[pos]);
    if (c < 0x80) {
      out->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c));
      ++pos;
      continue;
    }
    const size_t n = Utf8CharLength(text, pos);
    icu::UnicodeString u(static_cast<UChar32>(DecodeUtf8At(text, pos)));
    u.toLower(icu::Locale::getRoot());
    u.toUTF8String(*out);
    pos += n;
  }
}

}  // namespace

// Replaces every match of a String (literal) or Regex pattern in `text` by `content`.
Result<std::string> ReplaceAll(std::string_view text, const std::string& literal,
                               const RegexSplitter* regex, const std::string& content) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  if (regex == nullptr) {
    if (literal.empty()) return std::string(text);
    size_t prev = 0;
    for (size_t at = text.find(literal); at != std::string_view::npos;
         at = text.find(literal, prev)) {
      out.append(text.substr(prev, at - prev));
      out += content;
      prev = at + literal.size();
    }
    out.append(text.substr(prev));
    return out;
  }
  std::vector<std::pair<size_t, size_t>> matches;
  DETINFER_RETURN_IF_ERROR(regex->Matches(text, &matches));
  size_t prev = 0;
  for (auto [b, e] : matches) {
    out.append(text.substr(prev, b - prev));
    out += content;
    prev = e;
  }
  out.append(text.substr(prev));
  return out;
}

Result<std::string> HfPipeline::Normalize(std::string_view text) const {
  std::string cur(text);
  for (const HfNormalizerStep& step : normalizer_) {
    switch (step.kind) {
      case HfNormalizerStep::Kind::kUnicode: {
        DETINFER_ASSIGN_OR_RETURN(cur, detinfer::Normalize(cur, {step.form}));
        break;
      }
      case HfNormalizerStep::Kind::kLowercase: {
        std::string next;
        next.reserve(cur.size());
        AppendLowercase(cur, &next);
        cur = std::move(next);
        break;
      }
      case HfNormalizerStep::Kind::kStrip: {
        size_t b = 0, e = cur.size();
        if (step.left) {
          while (size_t n = WhitespaceLengthAt(cur, b)) b += n;
        }
        if (step.right) {
          while (e > b) {
            const size_t n = WhitespaceLengthBefore(cur, e);
            if (n == 0) break;
            e -= n;
          }
        }
        cur = cur.substr(b, e - b);
        break;
      }
      case HfNormalizerStep::Kind::kPrepend:
        if (!cur.empty()) cur = step.text + cur;
        break;
      case HfNormalizerStep::Kind::kReplace: {
        DETINFER_ASSIGN_OR_RETURN(cur, ReplaceAll(cur, step.literal, step.regex.get(), step.text));
        break;
      }
    }
  }
  return cur;
}

}  // namespace hf_pipeline_internal
}  // namespace detinfer
