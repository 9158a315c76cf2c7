#include "model/llama2c_loader.h"

#include <cstdint>
#include <cstring>

#include "model/byte_reader.h"
#include "model/tensor_source.h"
#include "model/validate.h"

namespace detinfer {

namespace {

// Hands out consecutive f32 arrays of the file, in run.c's order, as views; the total size was
// checked against the file before the first call, so no call can run past the end.
class Cursor {
 public:
  Cursor(const uint8_t* base) : p_(base) {}
  TensorView Take(std::initializer_list<int64_t> shape) {
    int64_t dims[kMaxTensorRank] = {};
    int rank = 0;
    int64_t n = 1;
    for (int64_t s : shape) {
      dims[rank++] = s;
      n *= s;
    }
    TensorView v = MakeView(p_, DType::kF32, dims, rank);
    p_ += n * 4;
    return v;
  }
  void SkipFloats(int64_t n) { p_ += n * 4; }

 private:
  const uint8_t* p_;
};

// A view of layer i of a stacked [L, ...] array: the same shape without the leading L.
TensorView LayerSlice(const TensorView& stacked, int64_t i) {
  TensorView v;
  v.dtype = stacked.dtype;
  v.rank = stacked.rank - 1;
  for (int d = 0; d < v.rank; ++d) {
    v.shape[d] = stacked.shape[d + 1];
    v.stride[d] = stacked.stride[d + 1];
  }
  v.data = static_cast<uint8_t*>(stacked.data) + i * stacked.stride[0] * 4;
  return v;
}

}  // namespace

Result<ModelWeights> LoadLlama2c(const std::string& path) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  return LoadLlama2c(std::move(file));
}

Result<ModelWeights> LoadLlama2c(MappedFile file) {
  const std::string path = file.path();
  ByteReader r(file.data(), file.size(), path);
  static const char* const kFields[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                         "n_kv_heads", "vocab_size", "seq_len"};
  int32_t h[7] = {};
  for (int i = 0; i < 7; ++i) {
    DETINFER_RETURN_IF_ERROR(r.Read(std::string("llama2.c header field ") + kFields[i], &h[i]));
  }
  auto bad = [&](int field, const std::string& why) {
    return Status::InvalidArgument(path + ": llama2.c header field " + kFields[field] + " = " +
                                   std::to_string(h[field]) + " " + why);
  };
  for (int i = 0; i < 7; ++i) {
    if (i == 5) continue;
    if (h[i] <= 0) return bad(i, "must be positive");
  }
  if (h[5] == 0 || h[5] == INT32_MIN) return bad(5, "is not a vocabulary size");
  if (h[0] % h[3] != 0) return bad(0, "is not a multiple of n_heads " + std::to_string(h[3]));
  if (h[3] % h[4] != 0) return bad(3, "is not a multiple of n_kv_heads " + std::to_string(h[4]));

  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = h[0];
  c.ffn_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.vocab_size = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  c.tied_embeddings = h[5] > 0;
  c.max_seq_len = h[6];
  c.head_dim = c.dim / c.n_heads;
  c.rope_theta = 10000.0;                  // llama2.c hard-codes both
  c.norm_eps = 1e-5f;
  c.rope_style = RopeStyle::kInterleaved;  // run.c rotates pairs (2i, 2i+1)
  DETINFER_RETURN_IF_ERROR(c.Validate(path));

  // All products below are of int32 values widened to int64 (at most ~2^93 for the largest
  // product of three, so they are computed with overflow checks).
  const int64_t dim = c.dim, L = c.n_layers, hd = c.head_dim;
  const int64_t kv_dim = c.n_kv_heads * hd, hidden = c.ffn_dim, vocab = c.vocab_size;
  const int64_t terms[][3] = {
      {vocab, dim, 1},             // token_embedding
      {L, dim, 1},                 // rms_att
      {L, dim, dim},               // wq
      {L, kv_dim, dim},            // wk
      {L, kv_dim, dim},            // wv
      {L, dim, dim},               // wo
      {L, dim, 1},                 // rms_ffn
      {L, hidden, dim},            // w1
      {L, dim, hidden},            // w2
      {L, hidden, dim},            // w3
      {dim, 1, 1},                 // rms_final
      {c.max_seq_len, hd, 1},      // freq_cis_real + freq_cis_imag (2 x head_size/2)
      {c.tied_embeddings ? 0 : vocab, dim, 1},  // wcls
  };
  uint64_t floats = 0;
  for (const auto& t : terms) {
    int64_t n;
    uint64_t sum;
    if (!CheckedNumel(t, 3, &n) || !CheckedAdd(floats, static_cast<uint64_t>(n), &sum)) {
      return Status::InvalidArgument(path + ": llama2.c header describes more weights than "
                                     "fit in 64 bits (dim " + std::to_string(dim) +
                                     ", hidden_dim " + std::to_string(hidden) + ", n_layers " +
                                     std::to_string(L) + ", vocab_size " +
                                     std::to_string(vocab) + ")");
    }
    floats = sum;
  }
  uint64_t bytes, expected;
  if (!CheckedMul(floats, 4, &bytes) || !CheckedAdd(bytes, kLlama2cHeaderBytes, &expected)) {
    return Status::InvalidArgument(path + ": llama2.c header describes more weights than fit "
                                   "in 64 bits");
  }
  if (expected != file.size()) {
    return Status::InvalidArgument(
        path + ": llama2.c file size " + std::to_string(file.size()) +
        (file.size() < expected ? " is truncated: the header" : " does not match: the header") +
        " (dim " + std::to_string(dim) + ", hidden_dim " + std::to_string(hidden) +
        ", n_layers " + std::to_string(L) + ", n_heads " + std::to_string(c.n_heads) +
        ", n_kv_heads " + std::to_string(c.n_kv_heads) + ", vocab_size " +
        std::to_string(h[5]) + ", seq_len " + std::to_string(c.max_seq_len) +
        ") describes a legacy version-0 file of " + std::to_string(expected) + " bytes");
  }

  ModelWeights w;
  w.config = c;
  w.format = ModelFormat::kLlama2c;
  w.source = path;
  Cursor cur(file.data() + kLlama2cHeaderBytes);
  w.token_embedding = cur.Take({vocab, dim});
  const TensorView rms_att = cur.Take({L, dim});
  const TensorView wq = cur.Take({L, dim, dim});
  const TensorView wk = cur.Take({L, kv_dim, dim});
  const TensorView wv = cur.Take({L, kv_dim, dim});
  const TensorView wo = cur.Take({L, dim, dim});
  const TensorView rms_ffn = cur.Take({L, dim});
  const TensorView w1 = cur.Take({L, hidden, dim});
  const TensorView w2 = cur.Take({L, dim, hidden});
  const TensorView w3 = cur.Take({L, hidden, dim});
  w.final_norm = cur.Take({dim});
  cur.SkipFloats(c.max_seq_len * hd);
  w.lm_head = c.tied_embeddings ? w.token_embedding : cur.Take({vocab, dim});
  w.layers.resize(static_cast<size_t>(L));
  for (int64_t i = 0; i < L; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    l.attn_norm = LayerSlice(rms_att, i);
    l.wq = LayerSlice(wq, i);
    l.wk = LayerSlice(wk, i);
    l.wv = LayerSlice(wv, i);
    l.wo = LayerSlice(wo, i);
    l.ffn_norm = LayerSlice(rms_ffn, i);
    l.w_gate = LayerSlice(w1, i);
    l.w_down = LayerSlice(w2, i);
    l.w_up = LayerSlice(w3, i);
  }
  w.files.push_back(std::move(file));
  DETINFER_RETURN_IF_ERROR(ValidateWeights(w));
  return w;
}

}  // namespace detinfer
