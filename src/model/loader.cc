#include "model/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "model/gguf_loader.h"
#include "model/hf_loader.h"
#include "model/llama2c_loader.h"

namespace detinfer {

namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(),
                                                suffix) == 0;
}

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The first 4 bytes (fewer for a shorter file).
Result<std::string> ReadMagic(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = "cannot open '" + path + "': " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
  }
  char buf[4];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return Status::IoError("cannot read '" + path + "'");
  return std::string(buf, static_cast<size_t>(n));
}

Status ExpectShape(const ModelWeights& w, const TensorView& v, const std::string& name,
                   std::initializer_list<int64_t> shape, const char* meaning) {
  const std::string where = w.source + ": tensor " + name;
  TensorView want;
  want.rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) want.shape[i++] = s;
  bool same = v.rank == want.rank;
  for (int d = 0; same && d < want.rank; ++d) same = v.shape[d] == want.shape[d];
  if (!same) {
    want.dtype = v.dtype;
    return Status::InvalidArgument(where + " has shape " + v.ShapeString() + ", expected " +
                                   want.ShapeString() + " (" + meaning + ")");
  }
  if (v.dtype != DType::kF32 && v.dtype != DType::kBF16 && v.dtype != DType::kF16) {
    return Status::InvalidArgument(where + " has an unknown dtype");
  }
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(v, where, want.rank));
  if (!v.is_contiguous()) return Status::InvalidArgument(where + " is not contiguous");
  return Status::Ok();
}

Status ExpectAbsent(const ModelWeights& w, const TensorView& v, const std::string& name,
                    const char* flag) {
  if (v.rank == 0 && v.data == nullptr) return Status::Ok();
  return Status::InvalidArgument(w.source + ": tensor " + name + " is present but the config "
                                 "has " + flag + " = false");
}

}  // namespace

Status ValidateWeights(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  DETINFER_RETURN_IF_ERROR(c.Validate(w.source));
  const int64_t dim = c.dim, hd = c.head_dim, q_dim = c.n_heads * hd, kv_dim = c.n_kv_heads * hd;
  DETINFER_RETURN_IF_ERROR(ExpectShape(w, w.token_embedding, "token_embedding",
                                       {c.vocab_size, dim}, "vocab_size x dim"));
  DETINFER_RETURN_IF_ERROR(ExpectShape(w, w.final_norm, "final_norm", {dim}, "dim"));
  DETINFER_RETURN_IF_ERROR(ExpectShape(w, w.lm_head, "lm_head", {c.vocab_size, dim},
                                       "vocab_size x dim"));
  if (w.layers.size() != static_cast<size_t>(c.n_layers)) {
    return Status::InvalidArgument(w.source + ": " + std::to_string(w.layers.size()) +
                                   " layers of weights but the config says n_layers = " +
                                   std::to_string(c.n_layers));
  }
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.attn_norm, p + "attn_norm", {dim}, "dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wq, p + "wq", {q_dim, dim},
                                         "n_heads*head_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wk, p + "wk", {kv_dim, dim},
                                         "n_kv_heads*head_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wv, p + "wv", {kv_dim, dim},
                                         "n_kv_heads*head_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wo, p + "wo", {dim, q_dim},
                                         "dim x n_heads*head_dim"));
    if (c.qkv_bias) {
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.bq, p + "bq", {q_dim}, "n_heads*head_dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.bk, p + "bk", {kv_dim}, "n_kv_heads*head_dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.bv, p + "bv", {kv_dim}, "n_kv_heads*head_dim"));
    } else {
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.bq, p + "bq", "qkv_bias"));
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.bk, p + "bk", "qkv_bias"));
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.bv, p + "bv", "qkv_bias"));
    }
    if (c.qk_norm) {
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.q_norm, p + "q_norm", {hd}, "head_dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.k_norm, p + "k_norm", {hd}, "head_dim"));
    } else {
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.q_norm, p + "q_norm", "qk_norm"));
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.k_norm, p + "k_norm", "qk_norm"));
    }
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.ffn_norm, p + "ffn_norm", {dim}, "dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.w_gate, p + "w_gate", {c.ffn_dim, dim},
                                         "ffn_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.w_up, p + "w_up", {c.ffn_dim, dim},
                                         "ffn_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.w_down, p + "w_down", {dim, c.ffn_dim},
                                         "dim x ffn_dim"));
  }
  return Status::Ok();
}

Result<ModelWeights> LoadModel(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    std::string msg = "cannot open model '" + path + "': " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
  }
  Result<ModelWeights> w = Status::Internal("unreachable");
  if (S_ISDIR(st.st_mode)) {
    struct stat cfg {};
    if (::stat((path + "/config.json").c_str(), &cfg) != 0) {
      return Status::NotFound(path + ": a directory without config.json is not a Hugging Face "
                              "model directory");
    }
    w = LoadHfDirectory(path);
  } else if (EndsWith(path, "config.json") || EndsWith(path, ".safetensors")) {
    w = LoadHfDirectory(ParentDir(path));  // a file of a Hugging Face directory
  } else {
    DETINFER_ASSIGN_OR_RETURN(std::string magic, ReadMagic(path));
    if (magic == "GGUF") {
      w = LoadGguf(path);
    } else if (magic == "24ka") {  // uint32 0x616b3432 ("ak42"), little-endian
      return Status::Unsupported(path + ": llama2.c version-1+ export (magic 0x616b3432) is not "
                                 "supported; only the legacy version-0 layout is");
    } else {
      w = LoadLlama2c(path);
    }
  }
  if (!w.ok()) return w.status();
  DETINFER_RETURN_IF_ERROR(ValidateWeights(*w));
  return w;
}

}  // namespace detinfer
