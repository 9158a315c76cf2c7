// Internal to the hf_pipeline*.cc files: the HfPipeline tokenizer class (built by
// MakeHfPipeline, hf_pipeline.h) and the text helpers more than one of its stages uses. The
// class is split by concept: assembly and Encode (hf_pipeline.cc), the normalizer
// (hf_pipeline_normalize.cc), the pre-tokenizer (hf_pipeline_pre_tokenize.cc), the BPE and
// Unigram models (hf_pipeline_models.cc) and the decoder (hf_pipeline_decode.cc).
#ifndef DETINFER_TOKENIZER_HF_PIPELINE_INTERNAL_H_
#define DETINFER_TOKENIZER_HF_PIPELINE_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_merges.h"
#include "tokenizer/hf_pipeline.h"
#include "tokenizer/regex_split.h"
#include "tokenizer/string_map.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/word_cache.h"

namespace detinfer {
namespace hf_pipeline_internal {

// Replaces every match of a String (literal) or Regex pattern in `text` by `content`
// (hf_pipeline_normalize.cc).
Result<std::string> ReplaceAll(std::string_view text, const std::string& literal,
                               const RegexSplitter* regex, const std::string& content);

// Every occurrence of `from` in `t` replaced by `to` (hf_pipeline_pre_tokenize.cc).
std::string ReplaceLiteral(std::string_view t, std::string_view from, std::string_view to);

class HfPipeline final : public Tokenizer {
 public:
  using Tokenizer::Decode;

  Result<std::vector<int32_t>> Encode(std::string_view text,
                                      bool add_special_tokens) const override;
  Result<std::string> Decode(std::span<const int32_t> ids) const override;
  Result<std::string> TokenBytes(int32_t id, int32_t prev_id) const override;
  Result<std::string_view> TokenText(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(text_.size()); }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return -1; }
  int32_t unk_id() const override { return unk_id_; }
  bool IsSpecial(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < text_.size() && has_text_[id] &&
           special_texts_.count(text_[id]) > 0;
  }

  static Result<std::unique_ptr<Tokenizer>> Build(HfPipelineParts parts);

 private:
  struct Piece {
    std::string text;
    bool at_start;  // begins at offset 0 of the input (Metaspace prepend_scheme "first")
  };
  Result<std::string> Normalize(std::string_view text) const;
  Status PreTokenize(std::string_view text, bool at_start, std::vector<Piece>* out) const;
  Status EncodeBpe(std::string_view word, WordCache* cache, std::vector<int32_t>* out) const;
  Status EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const;
  Status EncodeUnigram(std::string_view word, std::vector<int32_t>* out) const;
  Result<std::vector<std::string>> RunDecoder(std::vector<std::string> tokens) const;

  std::string source_;
  HfPipelineParts::Model model_ = HfPipelineParts::Model::kBpe;
  std::vector<std::string> text_;  // by id: added-token content, else the model's token
  std::vector<bool> has_text_;
  TokenIdMap model_ids_;
  BpeMergeTable merges_;
  std::vector<double> scores_;  // Unigram, by id
  double unk_score_ = 0;        // Unigram: lowest score - 10 (sentencepiece's kUnkPenalty)
  size_t max_piece_bytes_ = 0;  // Unigram: longest piece
  int32_t byte_ids_[256];       // id of "<0xHH>" in the model vocabulary, -1 if none
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int32_t unk_id_ = -1;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::unordered_set<std::string> special_texts_;  // strings of the added tokens marked special
  int32_t meta_id_ = -1;  // BPE: the id of "▁" (U+2581), for EncodeBpe's cuts; -1: no cuts
  std::unordered_set<std::string> no_cut_before_meta_;  // characters X of merge results "..X▁.."
  std::vector<HfNormalizerStep> normalizer_;
  std::vector<HfPreTokenizerStep> pre_;
  bool has_decoder_ = false;
  std::vector<HfDecoderStep> decoder_;
};

}  // namespace hf_pipeline_internal
}  // namespace detinfer

#endif  // DETINFER_TOKENIZER_HF_PIPELINE_INTERNAL_H_
