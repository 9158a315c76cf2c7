// tokenizer.json "pre_tokenizer": the byte-level BPE / WordLevel steps, and the general
// pipeline's.
#include <nlohmann/json.hpp>

#include "tokenizer/hf_json_internal.h"
#include "tokenizer/word_level.h"

namespace detinfer {
namespace hf_json_internal {
namespace {

// A Split over one-character matches of `pattern` (Digits, Punctuation).
Status CharClassSplit(std::string_view pattern, SplitBehavior behavior, const std::string& what,
                      std::vector<HfPreTokenizerStep>* out) {
  DETINFER_ASSIGN_OR_RETURN(RegexSplitter s, RegexSplitter::Compile(pattern, false, behavior, what));
  HfPreTokenizerStep step;
  step.kind = HfPreTokenizerStep::Kind::kSplit;
  step.splitter = std::make_shared<RegexSplitter>(std::move(s));
  out->push_back(std::move(step));
  return Status::Ok();
}

Result<SplitBehavior> ParseBehavior(const json& j, const std::string& src, const std::string& path,
                                    const char* dflt) {
  std::string b = dflt;
  if (auto it = j.find("behavior"); it != j.end()) {
    DETINFER_ASSIGN_OR_RETURN(b, GetString(*it, src, path + ".behavior"));
  }
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return Status::InvalidArgument(src + ": " + path + ".behavior '" + b +
                                 "' is not Isolated, Removed, MergedWithPrevious, MergedWithNext "
                                 "or Contiguous");
}

}  // namespace

// Appends the steps of one pre-tokenizer; *byte_level is set when a ByteLevel step was seen
// (it must be the last one: its byte mapping happens after all splitting here).
Status ParsePreTokenizer(const json& j, const std::string& src, const std::string& path,
                         std::vector<PreTokenizerStep>* steps, bool* byte_level) {
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  if (*byte_level) {
    return Status::Unsupported(src + ": " + path + " (" + type +
                               ") follows a ByteLevel pre-tokenizer; only a last ByteLevel is "
                               "supported");
  }
  if (type == "Sequence") {
    return ForEachPart(j, "pretokenizers", src, path, [&](const json& p, const std::string& at) {
      return ParsePreTokenizer(p, src, at, steps, byte_level);
    });
  }
  if (type == "ByteLevel") {
    DETINFER_ASSIGN_OR_RETURN(bool prefix, GetBool(j, "add_prefix_space", true, src, path));
    DETINFER_ASSIGN_OR_RETURN(bool use_regex, GetBool(j, "use_regex", true, src, path));
    if (prefix) steps->push_back({PreTokenizerStep::Kind::kPrefixSpace, {}});
    if (use_regex) {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter s,
                                RegexSplitter::Compile(kGpt2Pattern, false,
                                                       SplitBehavior::kIsolated, src + ": " + path));
      steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(s)});
    }
    *byte_level = true;
    return Status::Ok();
  }
  // Hugging Face's Whitespace keeps only the matches of \w+|[^\w\s]+ (Invert + Removed). As
  // two steps: drop the white space, then split what is left by the pattern, which covers
  // every non-space character, so "Isolated" yields exactly the matches.
  if (type == "Whitespace" || type == "WhitespaceSplit") {
    DETINFER_ASSIGN_OR_RETURN(RegexSplitter spaces,
                              RegexSplitter::Compile(kWhiteSpaceRunPattern, false,
                                                     SplitBehavior::kRemoved, src + ": " + path));
    steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(spaces)});
    if (type == "Whitespace") {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter words,
                                RegexSplitter::Compile(kHfWhitespacePattern, false,
                                                       SplitBehavior::kIsolated, src + ": " + path));
      steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(words)});
    }
    return Status::Ok();
  }
  if (type == "Split") {
    auto pat = j.find("pattern");
    if (pat == j.end() || !pat->is_object()) return TypeError(src, path + ".pattern", "an object");
    bool literal = false;
    std::string pattern_path;
    const json* p = nullptr;
    if (auto r = pat->find("Regex"); r != pat->end()) {
      p = &*r;
      pattern_path = path + ".pattern.Regex";
    } else if (auto s = pat->find("String"); s != pat->end()) {
      p = &*s;
      literal = true;
      pattern_path = path + ".pattern.String";
    } else {
      return Status::InvalidArgument(src + ": " + path + ".pattern has neither Regex nor String");
    }
    DETINFER_ASSIGN_OR_RETURN(std::string pattern, GetString(*p, src, pattern_path));
    DETINFER_ASSIGN_OR_RETURN(bool invert, GetBool(j, "invert", false, src, path));
    if (invert) return Status::Unsupported(src + ": " + path + ".invert = true is not supported");
    std::string behavior = "Isolated";
    if (auto b = j.find("behavior"); b != j.end()) {
      DETINFER_ASSIGN_OR_RETURN(behavior, GetString(*b, src, path + ".behavior"));
    }
    SplitBehavior sb;
    if (behavior == "Isolated") {
      sb = SplitBehavior::kIsolated;
    } else if (behavior == "Removed") {
      sb = SplitBehavior::kRemoved;
    } else {
      return Status::Unsupported(src + ": " + path + ".behavior '" + behavior +
                                 "' is not supported (Isolated and Removed are)");
    }
    DETINFER_ASSIGN_OR_RETURN(RegexSplitter s,
                              RegexSplitter::Compile(pattern, literal, sb, src + ": " + pattern_path));
    steps->push_back({PreTokenizerStep::Kind::kSplit, std::move(s)});
    return Status::Ok();
  }
  return Status::Unsupported(src + ": " + path + ": pre-tokenizer type '" + type +
                             "' is not supported (ByteLevel, Split, Whitespace, WhitespaceSplit and "
                             "Sequence are)");
}

// Metaspace's prepend_scheme, with the legacy add_prefix_space as tokenizers reads it: false
// means "never" and contradicts an explicit other scheme.
Result<HfPreTokenizerStep::Prepend> ParsePrependScheme(const json& j, const std::string& src,
                                                       const std::string& path) {
  HfPreTokenizerStep::Prepend scheme = HfPreTokenizerStep::Prepend::kAlways;
  if (auto it = j.find("prepend_scheme"); it != j.end() && !it->is_null()) {
    DETINFER_ASSIGN_OR_RETURN(std::string s, GetString(*it, src, path + ".prepend_scheme"));
    if (s == "first") {
      scheme = HfPreTokenizerStep::Prepend::kFirst;
    } else if (s == "always") {
      scheme = HfPreTokenizerStep::Prepend::kAlways;
    } else if (s == "never") {
      scheme = HfPreTokenizerStep::Prepend::kNever;
    } else {
      return Status::InvalidArgument(src + ": " + path + ".prepend_scheme '" + s +
                                     "' is not first, always or never");
    }
  }
  if (auto it = j.find("add_prefix_space"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) return TypeError(src, path + ".add_prefix_space", "a boolean");
    if (!it->get<bool>()) {
      if (scheme != HfPreTokenizerStep::Prepend::kNever) {
        return Status::InvalidArgument(src + ": " + path +
                                       ".add_prefix_space = false does not match prepend_scheme");
      }
    }
  }
  return scheme;
}

Status ParsePipelinePreTokenizer(const json& j, const std::string& src, const std::string& path,
                                 std::vector<HfPreTokenizerStep>* out) {
  if (j.is_null()) return Status::Ok();
  DETINFER_ASSIGN_OR_RETURN(std::string type, GetType(j, src, path));
  const std::string what = src + ": " + path;
  if (type == "Sequence") {
    return ForEachPart(j, "pretokenizers", src, path, [&](const json& p, const std::string& at) {
      return ParsePipelinePreTokenizer(p, src, at, out);
    });
  }
  HfPreTokenizerStep step;
  if (type == "Split") {
    DETINFER_ASSIGN_OR_RETURN(SplitBehavior b, ParseBehavior(j, src, path, "Isolated"));
    DETINFER_ASSIGN_OR_RETURN(bool invert, GetBool(j, "invert", false, src, path));
    std::string literal;
    DETINFER_RETURN_IF_ERROR(ParsePattern(j, src, path, &literal, &step.splitter, b, invert));
    if (!step.splitter) {
      // An empty String pattern never matches: the whole text is one non-match.
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter s,
                                RegexSplitter::Compile("(?!)", false, b, what, invert));
      step.splitter = std::make_shared<RegexSplitter>(std::move(s));
    }
    step.kind = HfPreTokenizerStep::Kind::kSplit;
  } else if (type == "Metaspace") {
    step.kind = HfPreTokenizerStep::Kind::kMetaspace;
    DETINFER_ASSIGN_OR_RETURN(step.replacement, GetOneChar(j, "replacement", "\u2581", src, path));
    DETINFER_ASSIGN_OR_RETURN(step.prepend, ParsePrependScheme(j, src, path));
    DETINFER_ASSIGN_OR_RETURN(step.split, GetBool(j, "split", true, src, path));
  } else if (type == "ByteLevel") {
    step.kind = HfPreTokenizerStep::Kind::kByteLevel;
    DETINFER_ASSIGN_OR_RETURN(step.add_prefix_space, GetBool(j, "add_prefix_space", true, src, path));
    DETINFER_ASSIGN_OR_RETURN(bool use_regex, GetBool(j, "use_regex", true, src, path));
    if (use_regex) {
      DETINFER_ASSIGN_OR_RETURN(RegexSplitter s, RegexSplitter::Compile(kGpt2Pattern, false,
                                                                       SplitBehavior::kIsolated, what));
      step.splitter = std::make_shared<RegexSplitter>(std::move(s));
    }
  } else if (type == "Whitespace" || type == "WhitespaceSplit") {
    DETINFER_RETURN_IF_ERROR(
        CharClassSplit(kWhiteSpaceRunPattern, SplitBehavior::kRemoved, what, out));
    if (type == "Whitespace") {
      DETINFER_RETURN_IF_ERROR(
          CharClassSplit(kHfWhitespacePattern, SplitBehavior::kIsolated, what, out));
    }
    return Status::Ok();
  } else if (type == "Digits") {
    DETINFER_ASSIGN_OR_RETURN(bool individual, GetBool(j, "individual_digits", false, src, path));
    // Rust's char::is_numeric is the general categories Nd, Nl, No.
    return CharClassSplit(R"(\p{N})",
                          individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
                          what, out);
  } else if (type == "Punctuation") {
    DETINFER_ASSIGN_OR_RETURN(SplitBehavior b, ParseBehavior(j, src, path, "Isolated"));
    // is_ascii_punctuation || Unicode P*.
    return CharClassSplit(R"([\p{P}\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}])", b,
                          what, out);
  } else {
    return Status::Unsupported(Unsupported(src, path, type));
  }
  out->push_back(std::move(step));
  return Status::Ok();
}

}  // namespace hf_json_internal
}  // namespace detinfer
