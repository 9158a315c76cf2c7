#include "model/model_bundle.h"

#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json_depth.h"
#include "core/mapped_file.h"
#include "model/file_kind.h"
#include "model/gguf.h"
#include "model/gguf_vocab.h"
#include "model/loader.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_model.h"

namespace detinfer {

namespace fs = std::filesystem;

namespace {

Result<uint64_t> HashFile(const std::string& path) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile f, MappedFile::Open(path));
  return XXH3_64bits(f.data(), f.size());
}

// tokenizer_config.json beside tokenizer.json: BOS/EOS names, tokenizer_class and
// add_bos_token / add_eos_token, which decide the special tokens Encode adds
// (hf_tokenizer_json.h).
HfTokenizerOptions HfSpecialTokens(const fs::path& dir) {
  std::ifstream in(dir / "tokenizer_config.json");
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return HfOptionsFromConfig(ss.str());
}

// The same tokenizer_config.json settings for a SentencePiece tokenizer.model.
SentencePieceOptions SpmSpecialTokens(const fs::path& dir) {
  HfTokenizerOptions hf = HfSpecialTokens(dir);
  SentencePieceOptions o;
  o.bos_token = std::move(hf.bos_token);
  o.eos_token = std::move(hf.eos_token);
  o.tokenizer_class = std::move(hf.tokenizer_class);
  o.add_bos_token = hf.add_bos_token;
  o.add_eos_token = hf.add_eos_token;
  return o;
}

// A binary tokenizer file: a SentencePiece tokenizer.model (recognised by how a serialized
// ModelProto starts, or by the .model name) or a llama2.c tokenizer.bin (no magic: tried last).
Result<std::unique_ptr<Tokenizer>> BinaryTokenizer(const std::string& path, int64_t vocab) {
  std::string head(64, '\0');
  {
    std::ifstream in(path, std::ios::binary);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  }
  const bool spm_name = fs::path(path).extension() == ".model";
  std::string spm_error;
  if (LooksLikeSentencePieceModel(head) || spm_name) {
    auto t = LoadSentencePieceModel(path, SpmSpecialTokens(fs::path(path).parent_path()));
    if (t.ok()) return t;
    std::string msg = t.status().message();
    if (spm_name) {
      msg += " (read as a SentencePiece tokenizer.model because of its name: the file is "
             "neither JSON nor GGUF)";
      return Status(t.status().code(), std::move(msg));
    }
    spm_error = std::move(msg);
  }
  auto t = LoadLlama2cTokenizer(path, static_cast<int32_t>(vocab));
  if (!t.ok()) {
    std::string msg = t.status().message();
    msg += " (read as a llama2.c tokenizer.bin, the last format tried: the file is neither JSON "
           "nor GGUF nor a SentencePiece tokenizer.model";
    if (!spm_error.empty()) {
      msg += ", though it starts like one: ";
      msg += spm_error;
    }
    msg += ")";
    return Status(t.status().code(), std::move(msg));
  }
  return t;
}

// A tokenizer file is recognised by its content, not its name: a tokenizer.json (JSON), the
// vocabulary of a GGUF file, or a binary file (BinaryTokenizer).
Result<std::unique_ptr<Tokenizer>> TokenizerFromFile(const std::string& path, int64_t vocab) {
  DETINFER_ASSIGN_OR_RETURN(const FileKind kind, SniffFile(path));
  switch (kind) {
    case FileKind::kJson:
      return LoadHfTokenizerJson(path, HfSpecialTokens(fs::path(path).parent_path()));
    case FileKind::kGguf: {
      DETINFER_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(path));
      DETINFER_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> t, GgufTokenizer(g));
      if (!t) return Status::InvalidArgument(path + ": the GGUF file has no vocabulary");
      return t;
    }
    case FileKind::kBinary:
      return BinaryTokenizer(path, vocab);
    default:
      return Status::InvalidArgument(path + " is " + std::string(FileKindName(kind)) +
                                     ", not a tokenizer: detinfer reads a Hugging Face "
                                     "tokenizer.json, a SentencePiece tokenizer.model, a GGUF "
                                     "file's vocabulary or a llama2.c tokenizer.bin");
  }
}

}  // namespace

uint64_t ModelFilesHash(const std::vector<MappedFile>& files, const KernelContext& ctx) {
  struct Piece {
    const MappedFile* file;
    size_t at, bytes;
  };
  std::vector<Piece> pieces;
  std::vector<uint64_t> sizes;
  for (const MappedFile& f : files) {
    sizes.push_back(f.size());
    for (size_t at = 0; at < f.size(); at += kModelHashPiece) {
      pieces.push_back({&f, at, std::min(kModelHashPiece, f.size() - at)});
    }
  }
  std::vector<uint64_t> digests(pieces.size());
  // A task hashes 32 pieces, then releases their pages: reading a file must not make it
  // resident (the packer, or a packed-weight cache file, reads again what it needs), and one
  // release per 32 MiB keeps the page-table work (and the other threads' TLB flushes) small.
  constexpr int64_t kPiecesPerTask = 32;
  const auto n = static_cast<int64_t>(pieces.size());
  ctx.ParallelFor((n + kPiecesPerTask - 1) / kPiecesPerTask, [&](int64_t t) {
    const int64_t first = t * kPiecesPerTask, last = std::min(n, first + kPiecesPerTask);
    for (int64_t i = first; i < last; ++i) {
      const Piece& p = pieces[static_cast<size_t>(i)];
      digests[static_cast<size_t>(i)] = XXH3_64bits(p.file->data() + p.at, p.bytes);
    }
    // The task's stretch of each file it touched, in one release each.
    for (int64_t i = first; i < last;) {
      const Piece& a = pieces[static_cast<size_t>(i)];
      int64_t j = i;
      while (j + 1 < last && pieces[static_cast<size_t>(j + 1)].file == a.file) ++j;
      const Piece& b = pieces[static_cast<size_t>(j)];
      a.file->ReleasePages(a.file->data() + a.at, b.at + b.bytes - a.at);
      i = j + 1;
    }
  });
  digests.insert(digests.end(), sizes.begin(), sizes.end());
  return XXH3_64bits(digests.data(), digests.size() * sizeof(uint64_t));
}

uint64_t ModelFilesHashV1(const std::vector<MappedFile>& files) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  for (const MappedFile& f : files) {
    for (size_t at = 0; at < f.size(); at += kModelHashPiece) {
      const size_t n = std::min(kModelHashPiece, f.size() - at);
      XXH3_64bits_update(st, f.data() + at, n);
      f.ReleasePages(f.data() + at, n);
    }
  }
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

Result<ModelTokenizer> FindModelTokenizer(const std::string& model_path, ModelFormat format,
                                          int64_t vocab, const std::string& tokenizer_path) {
  ModelTokenizer r;
  std::string tok_path = tokenizer_path;
  if (tok_path.empty()) {
    const fs::path p(model_path);
    if (format == ModelFormat::kHuggingFace) {
      const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
      // tokenizer.json first (what transformers' fast tokenizers read), else the SentencePiece
      // tokenizer.model of checkpoints that ship no tokenizer.json.
      if (fs::exists(dir / "tokenizer.json")) {
        tok_path = (dir / "tokenizer.json").string();
      } else if (fs::exists(dir / "tokenizer.model")) {
        tok_path = (dir / "tokenizer.model").string();
      }
    } else if (format == ModelFormat::kLlama2c) {
      if (fs::exists(p.parent_path() / "tokenizer.bin")) {
        tok_path = (p.parent_path() / "tokenizer.bin").string();
      }
    }
  }
  if (!tok_path.empty()) {
    DETINFER_ASSIGN_OR_RETURN(r.tokenizer, TokenizerFromFile(tok_path, vocab));
    DETINFER_ASSIGN_OR_RETURN(r.hash, HashFile(tok_path));
    r.path = tok_path;
    r.source = tokenizer_path.empty() ? "beside the model" : "--tokenizer";
  } else if (format == ModelFormat::kGguf) {
    auto tok = [&]() -> Result<std::unique_ptr<Tokenizer>> {
      DETINFER_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(model_path));
      return GgufTokenizer(g);
    }();
    if (tok.ok() && *tok) {
      r.tokenizer = std::move(tok).value();
      r.path = model_path;
      r.source = "embedded in the GGUF file";  // hash: the model's (the caller's to fill)
    } else {
      r.source = tok.ok() ? "the GGUF file has no vocabulary"
                          : "the GGUF vocabulary is unusable: " + tok.status().message();
    }
  } else {
    r.source = "no tokenizer file beside the model";
  }
  // A tokenizer may have fewer tokens than the model's embedding (checkpoints such as Qwen2 pad
  // the vocabulary to a multiple of 64 or 128; the padding rows are simply never produced), but
  // never more: its extra ids would index past the embedding table.
  if (r.tokenizer && r.tokenizer->vocab_size() > vocab) {
    return Status::InvalidArgument("tokenizer " + r.path + " has " +
                                   std::to_string(r.tokenizer->vocab_size()) +
                                   " tokens but the model " + model_path + " has a vocabulary of " +
                                   std::to_string(vocab));
  }
  return r;
}

Result<ModelTokenizer> LoadModelTokenizer(const std::string& model_path,
                                          const std::string& tokenizer_path) {
  // Mapping the model tells its format and vocabulary size; nothing is packed or read.
  DETINFER_ASSIGN_OR_RETURN(ModelWeights weights, LoadModel(model_path));
  return FindModelTokenizer(model_path, weights.format, weights.config.vocab_size, tokenizer_path);
}

Result<ModelBundle> LoadModelBundle(const std::string& model_path,
                                    const std::string& tokenizer_path, const KernelContext& ctx,
                                    const BundleOptions& options) {
  DETINFER_ASSIGN_OR_RETURN(ModelWeights weights, LoadModel(model_path));
  ModelBundle b;
  // With a packed-weight cache directory, a model big enough to use it has its hash remembered
  // there by its files' identities (packed_cache.h says why that is safe): a warm load then
  // reads none of the model file to name it.
  const PackedCacheOptions& co = options.cache;
  uint64_t file_bytes = 0;
  for (const MappedFile& f : weights.files) file_bytes += f.size();
  const bool memo = options.recall_model_hash && !co.dir.empty() && file_bytes >= co.min_bytes;
  if (auto recalled = memo ? RecallModelHash(co.dir, weights.files) : std::nullopt) {
    b.model_hash = *recalled;
    b.model_hash_recalled = true;
  } else {
    const int64_t started = WallClockNs();
    b.model_hash = ModelFilesHash(weights.files, ctx);
    if (memo) RememberModelHash(co.dir, weights.files, b.model_hash, started);
  }
  const ModelFormat format = weights.format;
  const int64_t vocab = weights.config.vocab_size;
  PackedCacheOptions cache = options.cache;
  cache.model_hash = b.model_hash;
  DETINFER_ASSIGN_OR_RETURN(Transformer t, Transformer::Create(std::move(weights), ctx, &cache));
  b.model = std::make_unique<Transformer>(std::move(t));
  DETINFER_ASSIGN_OR_RETURN(ModelTokenizer tok,
                            FindModelTokenizer(model_path, format, vocab, tokenizer_path));
  b.tokenizer = std::move(tok.tokenizer);
  b.tokenizer_path = std::move(tok.path);
  b.tokenizer_source = std::move(tok.source);
  // An embedded vocabulary is part of the model file, so the model's hash covers it.
  b.tokenizer_hash = tok.hash != 0 ? tok.hash : (b.tokenizer ? b.model_hash : 0);
  return b;
}

}  // namespace detinfer
