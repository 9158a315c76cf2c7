#include "tokenizer/regex_split.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

namespace detinfer {

struct RegexSplitter::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

std::string Pcre2Message(int err) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(err, buf, sizeof(buf));
  return n < 0 ? "PCRE2 error " + std::to_string(err) : std::string(reinterpret_cast<char*>(buf));
}

// Match data for this thread: only the whole match's offsets are read, and PCRE2 fills the first
// pair even when the ovector is too small for a pattern's groups, so one pair serves every
// pattern (the compiled patterns are shared read-only between threads; this is per thread).
pcre2_match_data* ThreadMatchData() {
  thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  return md.get();
}

}  // namespace

Result<RegexSplitter> RegexSplitter::Compile(std::string_view pattern, bool literal,
                                             SplitBehavior behavior, const std::string& what,
                                             bool invert) {
  // PCRE2 refuses UCP together with LITERAL (and a literal needs no character classes).
  const uint32_t options = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
  int err = 0;
  PCRE2_SIZE offset = 0;
  auto code = std::make_shared<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             options, &err, &offset, nullptr);
  if (code->code == nullptr) {
    return Status::InvalidArgument(what + ": invalid regex '" + std::string(pattern) +
                                   "': " + Pcre2Message(err) + " at offset " +
                                   std::to_string(offset));
  }
  // JIT only changes speed, never the matches; a platform without it falls back silently.
  (void)pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE);
  RegexSplitter s;
  s.code_ = std::move(code);
  s.behavior_ = behavior;
  s.invert_ = invert;
  s.what_ = what;
  return s;
}

Status RegexSplitter::Split(std::string_view text, std::vector<std::string_view>* out) const {
  if (invert_ || (behavior_ != SplitBehavior::kIsolated && behavior_ != SplitBehavior::kRemoved)) {
    return SplitGeneral(text, out);
  }
  pcre2_match_data* md = ThreadMatchData();
  if (md == nullptr) return Status::ResourceExhausted(what_ + ": cannot allocate PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t gap_start = 0;  // start of the text not yet covered by a match
  size_t pos = 0;
  // The loop of Matches() below, written out: this is the byte-level hot path, which builds no
  // list of matches.
  while (pos < text.size()) {
    // The text was validated as UTF-8 by the caller, so PCRE2's own check is skipped.
    const int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                               md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    // A pattern from the file can backtrack past PCRE2's match limit on some input: that is
    // the file's fault, reported as such, not a crash or a silent partial split.
    if (rc < 0) return Status::InvalidArgument(what_ + ": regex match failed: " + Pcre2Message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {
      // An empty match covers nothing (Hugging Face drops empty pieces); step one character.
      pos = begin + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (begin > gap_start) out->push_back(text.substr(gap_start, begin - gap_start));
    if (behavior_ == SplitBehavior::kIsolated) out->push_back(text.substr(begin, end - begin));
    gap_start = pos = end;
  }
  if (gap_start < text.size()) out->push_back(text.substr(gap_start));
  return Status::Ok();
}

Status RegexSplitter::Matches(std::string_view text,
                              std::vector<std::pair<size_t, size_t>>* out) const {
  pcre2_match_data* md = ThreadMatchData();
  if (md == nullptr) return Status::ResourceExhausted(what_ + ": cannot allocate PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                               md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) return Status::InvalidArgument(what_ + ": regex match failed: " + Pcre2Message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // as in Split: an empty match covers nothing
      pos = begin + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    out->emplace_back(begin, end);
    pos = end;
  }
  return Status::Ok();
}

// Hugging Face's split(): the text as alternating (span, is_match) parts, is_match flipped by
// invert, then folded per behavior exactly as tokenizers' NormalizedString::split does.
Status RegexSplitter::SplitGeneral(std::string_view text,
                                   std::vector<std::string_view>* out) const {
  if (text.empty()) return Status::Ok();
  std::vector<std::pair<size_t, size_t>> found;
  DETINFER_RETURN_IF_ERROR(Matches(text, &found));
  struct Part {
    size_t begin, end;
    bool match;
  };
  std::vector<Part> parts;
  parts.reserve(found.size() * 2 + 1);
  size_t prev = 0;
  for (auto [b, e] : found) {
    if (prev != b) parts.push_back({prev, b, invert_});
    parts.push_back({b, e, !invert_});
    prev = e;
  }
  if (prev != text.size()) parts.push_back({prev, text.size(), invert_});
  std::vector<Part> acc;  // match == true here means "remove"
  acc.reserve(parts.size());
  bool previous_match = false;
  switch (behavior_) {
    case SplitBehavior::kIsolated:
      for (Part p : parts) acc.push_back({p.begin, p.end, false});
      break;
    case SplitBehavior::kRemoved:
      acc = parts;
      break;
    case SplitBehavior::kContiguous:
      for (Part p : parts) {
        if (p.match == previous_match && !acc.empty()) {
          acc.back().end = p.end;
        } else {
          acc.push_back({p.begin, p.end, false});
        }
        previous_match = p.match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (Part p : parts) {
        if (p.match && !previous_match && !acc.empty()) {
          acc.back().end = p.end;
        } else {
          acc.push_back({p.begin, p.end, false});
        }
        previous_match = p.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t i = parts.size(); i-- > 0;) {
        const Part p = parts[i];
        if (p.match && !previous_match && !acc.empty()) {
          acc.back().begin = p.begin;
        } else {
          acc.push_back({p.begin, p.end, false});
        }
        previous_match = p.match;
      }
      std::reverse(acc.begin(), acc.end());
      break;
  }
  for (const Part& p : acc) {
    if (!p.match && p.end > p.begin) out->push_back(text.substr(p.begin, p.end - p.begin));
  }
  return Status::Ok();
}

}  // namespace detinfer
