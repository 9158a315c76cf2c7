// HfPipeline's decoder: the decoder steps over the ids' token strings (Decode) and over one
// token at a time (TokenBytes, for streaming).
#include <optional>

#include "tokenizer/byte_level.h"
#include "tokenizer/hf_pipeline_internal.h"
#include "tokenizer/utf8.h"

namespace detinfer {
namespace hf_pipeline_internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The ByteFallback decoder's test: six bytes "<0x" HH ">" where HH is what Rust's
// u8::from_str_radix(HH, 16) accepts (two hex digits, or '+' and one).
std::optional<uint8_t> ParseByteToken(std::string_view t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return std::nullopt;
  const int hi = HexValue(t[3]), lo = HexValue(t[4]);
  if (t[3] == '+' && lo >= 0) return static_cast<uint8_t>(lo);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// Strip decoder on one token: up to `start` leading and `stop` trailing `ch` characters.
std::string StripChars(std::string_view t, std::string_view ch, size_t start, size_t stop) {
  size_t b = 0, e = t.size();
  for (size_t i = 0; i < start && b < e && t.substr(b).starts_with(ch); ++i) b += ch.size();
  for (size_t i = 0; i < stop && e > b && t.substr(0, e).ends_with(ch); ++i) e -= ch.size();
  return std::string(t.substr(b, e - b));
}

}  // namespace

// tokenizers' decoders, each on the whole list of token strings (decode_chain).
Result<std::vector<std::string>> HfPipeline::RunDecoder(std::vector<std::string> tokens) const {
  for (const HfDecoderStep& step : decoder_) {
    switch (step.kind) {
      case HfDecoderStep::Kind::kReplace:
        for (std::string& t : tokens) {
          DETINFER_ASSIGN_OR_RETURN(t, ReplaceAll(t, step.literal, step.regex.get(), step.content));
        }
        break;
      case HfDecoderStep::Kind::kByteFallback: {
        // Runs of byte tokens become their bytes if those are valid UTF-8, else one U+FFFD per
        // byte (not per maximal subpart).
        std::vector<std::string> next;
        std::string bytes;
        auto flush = [&] {
          if (bytes.empty()) return;
          if (ValidateUtf8(bytes, "").ok()) {
            next.push_back(bytes);
          } else {
            for (size_t i = 0; i < bytes.size(); ++i) next.emplace_back(kReplacementChar);
          }
          bytes.clear();
        };
        for (std::string& t : tokens) {
          if (std::optional<uint8_t> b = ParseByteToken(t)) {
            bytes.push_back(static_cast<char>(*b));
          } else {
            flush();
            next.push_back(std::move(t));
          }
        }
        flush();
        tokens.swap(next);
        break;
      }
      case HfDecoderStep::Kind::kFuse: {
        std::string all;
        for (const std::string& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case HfDecoderStep::Kind::kStrip:
        for (std::string& t : tokens) t = StripChars(t, step.content, step.start, step.stop);
        break;
      case HfDecoderStep::Kind::kMetaspace:
        for (size_t i = 0; i < tokens.size(); ++i) {
          tokens[i] = ReplaceLiteral(tokens[i], step.content, i == 0 && step.strip_first ? "" : " ");
        }
        break;
      case HfDecoderStep::Kind::kByteLevel: {
        std::string bytes;
        for (const std::string& t : tokens) {
          if (!AppendFromByteLevel(t, &bytes)) bytes += t;
        }
        std::string text;
        AppendUtf8Lossy(bytes, /*final=*/true, &text);
        tokens.assign(1, std::move(text));
        break;
      }
    }
  }
  return tokens;
}

Result<std::string> HfPipeline::Decode(std::span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    DETINFER_ASSIGN_OR_RETURN(std::string_view t, TokenText(id));
    tokens.emplace_back(t);
  }
  std::string out;
  if (!has_decoder_) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  DETINFER_ASSIGN_OR_RETURN(std::vector<std::string> decoded, RunDecoder(std::move(tokens)));
  for (const std::string& t : decoded) out += t;
  return out;
}

// One token's share of Decode, for streaming: the decoder steps applied to this token alone,
// "first" meaning prev_id == -1. Byte tokens give their raw byte (the caller assembles
// characters). Steps after a Fuse act on the whole text in Decode; here a Strip after Fuse
// strips its start from the first token only and its stop not at all (the end is not known).
Result<std::string> HfPipeline::TokenBytes(int32_t id, int32_t prev_id) const {
  DETINFER_ASSIGN_OR_RETURN(std::string_view text, TokenText(id));
  const bool first = prev_id < 0;
  if (!has_decoder_) {
    std::string joined = first ? "" : " ";
    joined += text;
    return joined;
  }
  std::string s(text);
  bool fused = false;
  for (const HfDecoderStep& step : decoder_) {
    switch (step.kind) {
      case HfDecoderStep::Kind::kReplace: {
        DETINFER_ASSIGN_OR_RETURN(s, ReplaceAll(s, step.literal, step.regex.get(), step.content));
        break;
      }
      case HfDecoderStep::Kind::kByteFallback:
        if (std::optional<uint8_t> b = ParseByteToken(s)) s.assign(1, static_cast<char>(*b));
        break;
      case HfDecoderStep::Kind::kFuse:
        fused = true;
        break;
      case HfDecoderStep::Kind::kStrip:
        if (!fused) {
          s = StripChars(s, step.content, step.start, step.stop);
        } else if (first) {
          s = StripChars(s, step.content, step.start, 0);
        }
        break;
      case HfDecoderStep::Kind::kMetaspace:
        s = ReplaceLiteral(s, step.content, first && step.strip_first ? "" : " ");
        break;
      case HfDecoderStep::Kind::kByteLevel: {
        std::string bytes;
        if (AppendFromByteLevel(s, &bytes)) s = std::move(bytes);
        fused = true;
        break;
      }
    }
  }
  return s;
}

}  // namespace hf_pipeline_internal
}  // namespace detinfer
