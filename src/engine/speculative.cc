#include "engine/speculative.h"

#include <algorithm>
#include <string>

namespace detinfer {

std::string_view DraftSourceName(DraftSource source) {
  switch (source) {
    case DraftSource::kNone: return "none";
    case DraftSource::kLookup: return "lookup";
    case DraftSource::kModel: return "draft";
    case DraftSource::kCustom: return "custom";
  }
  return "?";
}

Result<DraftSource> ParseDraftSource(std::string_view name) {
  if (name == "none" || name == "off") return DraftSource::kNone;
  if (name == "lookup") return DraftSource::kLookup;
  if (name == "draft") return DraftSource::kModel;
  return Status::InvalidArgument("unknown draft source '" + std::string(name) +
                                 "' (known: lookup, draft, none)");
}

Status ValidateSpeculativeOptions(const SpeculativeOptions& o) {
  if (o.max_guesses < 1) {
    return Status::InvalidArgument("speculative: at most k guesses per pass needs k >= 1, got " +
                                   std::to_string(o.max_guesses));
  }
  if (o.source == DraftSource::kCustom && !o.custom) {
    return Status::InvalidArgument("speculative: a custom draft source needs a guesser");
  }
  if (o.source == DraftSource::kModel && o.draft_model == nullptr) {
    return Status::InvalidArgument("speculative: draft-model guesses need a draft model");
  }
  if (o.draft_kv_capacity_tokens < 0) {
    return Status::InvalidArgument("speculative: the draft KV capacity must be >= 0, got " +
                                   std::to_string(o.draft_kv_capacity_tokens));
  }
  if (o.ngram_min < 1 || o.ngram_max < o.ngram_min) {
    return Status::InvalidArgument("speculative: n-gram sizes must satisfy 1 <= min <= max, got " +
                                   std::to_string(o.ngram_min) + ".." +
                                   std::to_string(o.ngram_max));
  }
  return Status::Ok();
}

std::vector<int32_t> LookupDraft(std::span<const int32_t> text, int32_t ngram_min,
                                 int32_t ngram_max, int32_t max_guesses) {
  std::vector<int32_t> out;
  const int64_t len = static_cast<int64_t>(text.size());
  if (max_guesses < 1) return out;
  for (int64_t n = std::min<int64_t>(ngram_max, len - 1); n >= ngram_min && n >= 1; --n) {
    const int32_t* tail = text.data() + (len - n);
    // Most recent first: a match must end before the text does, so something follows it.
    for (int64_t start = len - n - 1; start >= 0; --start) {
      if (text[static_cast<size_t>(start + n - 1)] != tail[n - 1] ||
          !std::equal(tail, tail + n, text.data() + start)) {
        continue;
      }
      // What followed the match, read from the text and then from the guesses themselves.
      for (int64_t i = start + n; static_cast<int32_t>(out.size()) < max_guesses; ++i) {
        out.push_back(i < len ? text[static_cast<size_t>(i)] : out[static_cast<size_t>(i - len)]);
      }
      return out;
    }
  }
  return out;
}

void GuessBudget::Checked(int32_t proposed, int32_t accepted) {
  if (accepted > 0) {
    misses_ = 0;
    next_pause_ = kFirstPause;
    k_ = std::min(max_, accepted == proposed ? k_ + 1 : accepted + 1);
    return;
  }
  k_ = std::max(1, k_ / 2);
  if (++misses_ < kMissesBeforePause) return;
  misses_ = 0;
  paused_ = next_pause_;
  next_pause_ = std::min(kLongestPause, next_pause_ * 2);
}

}  // namespace detinfer
