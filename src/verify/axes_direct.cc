#include "verify/axes_direct.h"

#include <algorithm>
#include <string>

namespace detinfer::verify {

namespace {

enum DirectPurpose : uint64_t { kDirectResume = 20 };

Result<PagedKvCache> FreshCache(AxisEnv& env, int64_t tokens) {
  DETINFER_ASSIGN_OR_RETURN(PagedKvCache cache,
                            env.model().NewCache(std::max<int64_t>(tokens, 1), env.settings().kv_dtype));
  DETINFER_RETURN_IF_ERROR(cache.AddSequence(0));
  return cache;
}

}  // namespace

Status FeedPieces(const Transformer& model, const KernelContext& ctx, PagedKvCache& cache,
                  std::span<const int32_t> tokens, std::span<const int64_t> pieces, bool all_rows,
                  std::vector<std::vector<float>>* logits) {
  const int64_t vocab = model.config().vocab_size;
  int64_t pos = 0;
  std::vector<float> out;
  for (int64_t n : pieces) {
    const Segment seg{0, pos, tokens.subspan(static_cast<size_t>(pos), static_cast<size_t>(n)),
                      all_rows};
    DETINFER_RETURN_IF_ERROR(model.Forward(ctx, cache, std::span(&seg, 1), &out));
    if (logits != nullptr) {
      for (size_t r = 0; r * static_cast<size_t>(vocab) < out.size(); ++r) {
        logits->emplace_back(out.begin() + static_cast<std::ptrdiff_t>(r) * vocab,
                             out.begin() + static_cast<std::ptrdiff_t>(r + 1) * vocab);
      }
    }
    pos += n;
  }
  return Status::Ok();
}

std::vector<uint8_t> StoredRow(const PagedKvCache& cache, int64_t layer, bool value, SeqId seq,
                               int64_t pos) {
  std::vector<uint8_t> row;
  // Callers pass rows of the sequence they just fed; an error here is a caller bug.
  if (!cache.CopyStoredRow(layer, value, seq, pos, &row).ok()) row.clear();
  return row;
}

AxisDef SlotIdentityAxis() {
  AxisDef a{"slot-identity", "R2",
            "stored K/V of prefill+decode vs one pass over the longer sequence (steps = positions)",
            false, nullptr};
  a.run = [](AxisEnv& env, const VerifyCase& c, const Outcome& reference, bool variant,
             int64_t) -> Result<Outcome> {
    // Prompt + every generated token but the last (which was never fed).
    std::vector<int32_t> seq = c.request.prompt;
    seq.insert(seq.end(), reference.tokens.begin(),
               reference.tokens.end() - (reference.tokens.empty() ? 0 : 1));
    const int64_t n = static_cast<int64_t>(seq.size());
    const int64_t p = static_cast<int64_t>(c.request.prompt.size());
    std::vector<int64_t> pieces;
    if (variant) {
      pieces.push_back(p);
      for (int64_t i = p; i < n; ++i) pieces.push_back(1);
    } else {
      pieces.push_back(n);
    }
    DETINFER_ASSIGN_OR_RETURN(PagedKvCache cache, FreshCache(env, n));
    DETINFER_RETURN_IF_ERROR(
        FeedPieces(env.model(), env.ReferenceContext(), cache, seq, pieces, false, nullptr));
    const ModelConfig& mc = env.model().config();
    const int64_t width = mc.n_kv_heads * mc.head_dim;
    Outcome out;
    out.fed = seq;
    std::vector<float> k(static_cast<size_t>(width)), v(k.size());
    for (int64_t pos = 0; pos < n; ++pos) {
      std::vector<float> all;
      for (int64_t l = 0; l < mc.n_layers; ++l) {
        DETINFER_RETURN_IF_ERROR(cache.ReadRow(l, 0, pos, k.data(), v.data()));
        all.insert(all.end(), k.begin(), k.end());
        all.insert(all.end(), v.begin(), v.end());
      }
      out.steps.push_back(std::move(all));
      out.tokens.push_back(seq[static_cast<size_t>(pos)]);
    }
    out.detail = std::to_string(n) + " positions";
    return out;
  };
  return a;
}

AxisDef ResumeAxis() {
  AxisDef a{"resume", "A3",
            "prompt, decoded tokens, then several new tokens at once (steps = positions)", false,
            nullptr};
  a.run = [](AxisEnv& env, const VerifyCase& c, const Outcome& reference, bool variant,
             int64_t) -> Result<Outcome> {
    CaseRng rng(StreamSeed(c.rng_seed, 0, kDirectResume));
    const ModelConfig& mc = env.model().config();
    const int64_t p = static_cast<int64_t>(c.request.prompt.size());
    const int64_t gen = static_cast<int64_t>(reference.tokens.size());
    int64_t m = rng.Uniform(0, std::min<int64_t>(gen, 16));
    int64_t x = rng.Uniform(2, 8);
    int64_t y = 4;
    // Fit the context: shrink the new tokens first, then the decoded ones.
    while (p + m + x + y > mc.max_seq_len && y > 0) --y;
    while (p + m + x + y > mc.max_seq_len && x > 0) --x;
    while (p + m + x + y > mc.max_seq_len && m > 0) --m;
    std::vector<int32_t> seq = c.request.prompt;
    seq.insert(seq.end(), reference.tokens.begin(), reference.tokens.begin() + m);
    for (int64_t i = 0; i < x + y; ++i) {
      seq.push_back(static_cast<int32_t>(rng.Uniform(0, mc.vocab_size - 1)));
    }
    const int64_t n = static_cast<int64_t>(seq.size());
    DETINFER_ASSIGN_OR_RETURN(PagedKvCache cache, FreshCache(env, n));
    Outcome out;
    out.fed = seq;
    const KernelContext ctx = env.ReferenceContext();
    if (variant) {
      std::vector<std::vector<float>> rows;
      std::vector<int64_t> pieces{p};
      for (int64_t i = 0; i < m; ++i) pieces.push_back(1);
      // The prompt's last row, one row per decoded token, then every row of the x new tokens.
      DETINFER_RETURN_IF_ERROR(FeedPieces(env.model(), ctx, cache, seq, pieces, false, &rows));
      PagedKvCache* kv = &cache;
      const int64_t at = p + m;
      if (x > 0) {
        const Segment seg{0, at, std::span(seq).subspan(static_cast<size_t>(at), static_cast<size_t>(x)),
                          true};
        std::vector<float> lg;
        DETINFER_RETURN_IF_ERROR(env.model().Forward(ctx, *kv, std::span(&seg, 1), &lg));
        for (int64_t r = 0; r < x; ++r) {
          rows.emplace_back(lg.begin() + r * mc.vocab_size, lg.begin() + (r + 1) * mc.vocab_size);
        }
      }
      for (int64_t i = at + x; i < n; ++i) {
        const Segment seg{0, i, std::span(seq).subspan(static_cast<size_t>(i), 1), false};
        std::vector<float> lg;
        DETINFER_RETURN_IF_ERROR(env.model().Forward(ctx, *kv, std::span(&seg, 1), &lg));
        rows.push_back(std::move(lg));
      }
      out.steps = std::move(rows);
    } else {
      std::vector<std::vector<float>> rows;
      const std::vector<int64_t> pieces{n};
      DETINFER_RETURN_IF_ERROR(FeedPieces(env.model(), ctx, cache, seq, pieces, true, &rows));
      out.steps.assign(rows.begin() + (p - 1), rows.end());
    }
    for (int64_t i = p - 1; i < n; ++i) out.tokens.push_back(seq[static_cast<size_t>(i)]);
    out.detail = std::to_string(m) + " decoded, then " + std::to_string(x) + " at once, then " +
                 std::to_string(y) + " decoded";
    return out;
  };
  return a;
}

}  // namespace detinfer::verify
