// HfPipeline's pre-tokenizer stage: the Split, Metaspace and ByteLevel steps that cut each
// normalized segment into the pieces the model encodes.
#include "tokenizer/byte_level.h"
#include "tokenizer/hf_pipeline_internal.h"

namespace detinfer {
namespace hf_pipeline_internal {

std::string ReplaceLiteral(std::string_view t, std::string_view from, std::string_view to) {
  std::string out;
  size_t prev = 0;
  for (size_t at = t.find(from); at != std::string_view::npos; at = t.find(from, prev)) {
    out.append(t.substr(prev, at - prev));
    out.append(to);
    prev = at + from.size();
  }
  out.append(t.substr(prev));
  return out;
}

Status HfPipeline::PreTokenize(std::string_view text, bool at_start,
                               std::vector<Piece>* out) const {
  std::vector<Piece> pieces, next;
  pieces.push_back({std::string(text), at_start});
  std::vector<std::string_view> views;
  for (const HfPreTokenizerStep& step : pre_) {
    next.clear();
    for (Piece& p : pieces) {
      switch (step.kind) {
        case HfPreTokenizerStep::Kind::kSplit: {
          views.clear();
          DETINFER_RETURN_IF_ERROR(step.splitter->Split(p.text, &views));
          for (std::string_view v : views) {
            next.push_back({std::string(v), p.at_start && v.data() == p.text.data()});
          }
          break;
        }
        case HfPreTokenizerStep::Kind::kMetaspace: {
          std::string s = ReplaceLiteral(p.text, " ", step.replacement);
          const bool prepend =
              !s.starts_with(step.replacement) &&
              (step.prepend == HfPreTokenizerStep::Prepend::kAlways ||
               (step.prepend == HfPreTokenizerStep::Prepend::kFirst && p.at_start));
          if (prepend) s = step.replacement + s;
          if (!step.split) {
            if (!s.empty()) next.push_back({std::move(s), p.at_start});
            break;
          }
          // Split on the replacement, MergedWithNext: each occurrence starts a new piece.
          size_t begin = 0;
          bool first = true;
          for (size_t at = s.find(step.replacement, 1); at != std::string::npos;
               at = s.find(step.replacement, at + step.replacement.size())) {
            if (at > begin) {
              next.push_back({s.substr(begin, at - begin), p.at_start && first});
              first = false;
            }
            begin = at;
          }
          if (begin < s.size()) next.push_back({s.substr(begin), p.at_start && first});
          break;
        }
        case HfPreTokenizerStep::Kind::kByteLevel: {
          std::string s;
          if (step.add_prefix_space && !p.text.starts_with(' ')) s.push_back(' ');
          s += p.text;
          views.clear();
          if (step.splitter) {
            DETINFER_RETURN_IF_ERROR(step.splitter->Split(s, &views));
          } else if (!s.empty()) {
            views.push_back(s);
          }
          bool first = true;
          for (std::string_view v : views) {
            std::string mapped;
            AppendByteLevel(v, &mapped);
            next.push_back({std::move(mapped), p.at_start && first});
            first = false;
          }
          break;
        }
      }
    }
    pieces.swap(next);
  }
  for (Piece& p : pieces) {
    if (!p.text.empty()) out->push_back(std::move(p));
  }
  return Status::Ok();
}

}  // namespace hf_pipeline_internal
}  // namespace detinfer
