#include "cli_common.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>

namespace detinfer::cli {

Result<std::vector<int32_t>> ParseIds(const std::string& flag, const std::string& text) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int32_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size()) {
      return Status::InvalidArgument(flag + ": '" + item + "' is not a token id (expected e.g. 1,2,3)");
    }
    ids.push_back(v);
    start = end + 1;
  }
  return ids;
}

void AddEngineFlags(CLI::App* cmd, EngineFlags* f) {
  cmd->add_option("--threads", f->threads, "Threads (default all hardware threads)");
  cmd->add_option("--kv-dtype", f->kv_dtype, kKvDTypeHelp);
  cmd->add_option("--chunk", f->chunk, "Prefill chunk size in tokens (default 64)");
  cmd->add_option("--block", f->block, "KV block size in tokens (default 16)");
  cmd->add_option("--kv-capacity", f->kv_capacity,
                  "KV capacity in tokens (default 8 times the model's context, or what fits in "
                  "3/4 of the memory available after the weights; detinfer info shows it)");
  cmd->add_flag("--no-prefix-cache", f->no_prefix_cache, "Do not reuse cached prompt prefixes");
  cmd->add_flag("--no-cache", f->no_cache,
                "Recompute every sequence from scratch at every step (slow; for checks)");
  cmd->add_option("--weight-cache", f->weight_cache,
                  "Directory of packed-weight cache files, or off (default $DETINFER_WEIGHT_CACHE, "
                  "else ~/.cache/detinfer; models packing to 256 MiB or more): warm loads read "
                  "the packed weights instead of packing them. Same bits either way");
}

void NoteWeightCache(const ModelBundle& b) {
  const PackedCacheReport& r = b.model->packed_cache();
  if (!r.detail.empty()) std::fprintf(stderr, "note: %s\n", r.detail.c_str());
  if (!r.read_note.empty()) {
    std::fprintf(stderr, "note: packed-weight cache %s %s\n", r.path.c_str(), r.read_note.c_str());
  }
  if (r.outcome == PackedCacheReport::Outcome::kWriting) {
    std::fprintf(stderr,
                 "note: writing the packed weights to %s (once per model: later loads read it "
                 "instead of packing; --weight-cache off to skip)\n",
                 r.path.c_str());
  }
}

void AddSpeculativeFlags(CLI::App* cmd, SpeculativeFlags* f) {
  cmd->add_option("--speculative", f->source,
                  "Speculative decoding: lookup (guess by continuing an earlier occurrence of the "
                  "last tokens in the prompt and output), draft (a small model's greedy guesses, "
                  "--draft) or none (default). Same output bits");
  cmd->add_option("--draft", f->draft,
                  "Draft model for --speculative draft (implied): a small model with the same "
                  "tokenizer");
  cmd->add_option("--spec-k", f->k,
                  "Most guesses checked per forward pass with --speculative (default " +
                      std::to_string(SpeculativeOptions{}.max_guesses) + ")");
}

Result<SpeculativeOptions> ToSpeculativeOptions(const SpeculativeFlags& f) {
  SpeculativeOptions o;
  auto source = ParseDraftSource(f.source);
  if (!source.ok()) return Status::InvalidArgument("--speculative: " + source.status().message());
  o.source = *source;
  if (!f.draft.empty() && o.source == DraftSource::kNone) o.source = DraftSource::kModel;
  if (o.source == DraftSource::kModel && f.draft.empty()) {
    return Status::InvalidArgument("--speculative draft needs --draft MODEL");
  }
  if (o.source != DraftSource::kModel && !f.draft.empty()) {
    return Status::InvalidArgument("--draft is for --speculative draft, not " + f.source);
  }
  if (f.k < 1) return Status::InvalidArgument("--spec-k must be >= 1, got " + std::to_string(f.k));
  o.max_guesses = f.k;
  return o;
}

Result<std::unique_ptr<ModelBundle>> LoadDraftModel(const SpeculativeFlags& f,
                                                    const ModelBundle& target,
                                                    const KernelContext& ctx) {
  if (f.draft.empty()) return std::unique_ptr<ModelBundle>();
  auto b = LoadModelBundle(f.draft, "", ctx);
  if (!b.ok()) return Status(b.status().code(), "--draft: " + b.status().message());
  const int64_t vocab = target.model->config().vocab_size;
  if (b->model->config().vocab_size != vocab) {
    return Status::InvalidArgument("--draft: the draft model's vocabulary has " +
                                   std::to_string(b->model->config().vocab_size) +
                                   " tokens, the model's " + std::to_string(vocab) +
                                   " (a draft model must share the model's tokenizer)");
  }
  if (b->tokenizer && target.tokenizer) {
    for (int32_t id = 0; id < vocab; ++id) {
      auto a = target.tokenizer->TokenText(id), d = b->tokenizer->TokenText(id);
      if (a.ok() != d.ok() || (a.ok() && *a != *d)) {
        return Status::InvalidArgument("--draft: the draft model's token " + std::to_string(id) +
                                       " is not the model's (a draft model must share the "
                                       "model's tokenizer)");
      }
    }
  }
  return std::make_unique<ModelBundle>(std::move(b).value());
}

Result<EngineOptions> ToEngineOptions(const EngineFlags& f, const ModelConfig& model) {
  EngineConfig c;
  c.kv_dtype = f.kv_dtype;
  c.chunk = f.chunk;
  c.block = f.block;
  c.kv_capacity = f.kv_capacity;
  c.prefix_cache = !f.no_prefix_cache;
  c.no_cache = f.no_cache;
  return MakeEngineOptions(c, model, NameStyle::kFlag);
}

Result<std::vector<int32_t>> EncodeText(const Tokenizer* tokenizer, const std::string& why_none,
                                        const std::string& flag, const std::string& text,
                                        bool add_special_tokens) {
  std::string warning;
  auto ids = detinfer::EncodeText(tokenizer, why_none, flag, text, add_special_tokens,
                                  NameStyle::kFlag, &warning);
  if (!warning.empty()) Warn(warning);
  return ids;
}

void WarnUnknownTokens(const Tokenizer& tokenizer, const std::string& flag,
                       const std::vector<int32_t>& ids) {
  const std::string warning = UnknownTokenWarning(tokenizer, flag, ids);
  if (!warning.empty()) Warn(warning);
}

Result<std::vector<int32_t>> EncodeText(const ModelBundle& b, const std::string& flag,
                                        const std::string& text, bool add_bos) {
  return EncodeText(b.tokenizer.get(), b.tokenizer_source, flag, text, add_bos);
}

Result<std::vector<int32_t>> PromptFromFlags(const ModelBundle& b, const std::string& ids,
                                             const std::string& text) {
  if (ids.empty() == text.empty()) {
    return Status::InvalidArgument("give the prompt as --ids or as --prompt (exactly one)");
  }
  if (!ids.empty()) return ParseIds("--ids", ids);
  return EncodeText(b, "--prompt", text, /*add_bos=*/true);
}

int Fail(const Status& status) {
  std::fprintf(stderr, "detinfer: %s\n", status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

void Warn(const std::string& message) {
  std::fprintf(stderr, "detinfer: warning: %s\n", message.c_str());
}

}  // namespace detinfer::cli
