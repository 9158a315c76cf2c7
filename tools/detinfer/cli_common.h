// Pieces shared by the detinfer subcommands: flag groups, id lists, the kernel context.
#ifndef DETINFER_TOOLS_CLI_COMMON_H_
#define DETINFER_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "detinfer/engine.h"
#include "detinfer/load.h"
#include "detinfer/runtime.h"

namespace CLI { class App; }

namespace detinfer::cli {

// "1,2,3" -> {1, 2, 3}; errors name the flag and the bad item.
Result<std::vector<int32_t>> ParseIds(const std::string& flag, const std::string& text);

// Runtime, MakeRuntime (--threads, DETINFER_ISA), ParseKvDType (--kv-dtype), EngineConfig and
// the defaults come from the library's public headers (include/detinfer/), which the server
// command and the Python package use too.
inline constexpr const char* kKvDTypeHelp =
    "KV cache dtype: f32 (default), bf16 or f16; part of the schedule id, so it changes "
    "the bits";

inline constexpr const char* kTokenizerHelp =
    "tokenizer.json, SentencePiece tokenizer.model, llama2.c tokenizer.bin, or a GGUF file's "
    "vocabulary (default found beside the model, or in a GGUF model)";

// The engine flags of `generate`, `score`, `replay` and `serve` (detinfer::EngineConfig's values).
struct EngineFlags {
  int threads = 0;  // 0: all hardware threads
  std::string kv_dtype = std::string(kDefaultKvDType);
  int64_t chunk = 64;
  int64_t block = 16;
  int64_t kv_capacity = 0;  // 0: room for the model's whole context, 8 sequences
  bool no_prefix_cache = false;
  bool no_cache = false;
  std::string weight_cache;  // --weight-cache DIR|off; "": the default (BundleOptionsFor)
};
void AddEngineFlags(CLI::App* cmd, EngineFlags* flags);
Result<EngineOptions> ToEngineOptions(const EngineFlags& flags, const ModelConfig& model);

// Says on stderr when the packed-weight cache is being written, was not written, or a file
// found was not used (and why); quiet on a hit or when the cache is off.
void NoteWeightCache(const ModelBundle& b);

// --speculative lookup|draft|none, --spec-k K and --draft MODEL (`generate` and `serve`): guess
// up to K tokens ahead and check them in one forward pass. It changes no bit of any output (so
// not the schedule id either), only the time taken.
struct SpeculativeFlags {
  std::string source = "none";
  int32_t k = SpeculativeOptions{}.max_guesses;
  std::string draft;  // --draft MODEL: implies --speculative draft
};
void AddSpeculativeFlags(CLI::App* cmd, SpeculativeFlags* flags);
// The options, without the draft model (LoadDraftModel sets it).
Result<SpeculativeOptions> ToSpeculativeOptions(const SpeculativeFlags& flags);
// The --draft model, loaded with `ctx`; null without --draft. Its vocabulary must be the
// target's, token for token (when both have a tokenizer) or at least in size.
Result<std::unique_ptr<ModelBundle>> LoadDraftModel(const SpeculativeFlags& flags,
                                                    const ModelBundle& target,
                                                    const KernelContext& ctx);
// Text encoded for `b`'s model (detinfer::EncodeText: a tokenizer is needed; the error says
// where none was found and names `flag`). Its unknown-token warning goes to stderr.
Result<std::vector<int32_t>> EncodeText(const ModelBundle& b, const std::string& flag,
                                        const std::string& text, bool add_bos);
// The same with a tokenizer that may be null; `why_none` says why there is none.
Result<std::vector<int32_t>> EncodeText(const Tokenizer* tokenizer, const std::string& why_none,
                                        const std::string& flag, const std::string& text,
                                        bool add_special_tokens);
// The warning EncodeText gives when `ids` (encoded for `flag`) hold the unknown token.
void WarnUnknownTokens(const Tokenizer& tokenizer, const std::string& flag,
                       const std::vector<int32_t>& ids);
// A prompt given as token ids (--ids) or as text (--prompt, encoded with BOS): exactly one.
Result<std::vector<int32_t>> PromptFromFlags(const ModelBundle& b, const std::string& ids,
                                             const std::string& text);

// The exit codes of every subcommand (README "Exit codes"): 0 success; 1 the command ran and
// failed (a file could not be read, a request was refused, verify found a divergence); 2 the
// command line cannot be run as written (unknown subcommand or flag, a missing or malformed
// value, a value out of the flag's range).
inline constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2;

// Prints "detinfer: <message>" on stderr and returns the exit code for a failed command:
// kExitUsage for InvalidArgument, else kExitFailure.
int Fail(const Status& status);
// Prints "detinfer: warning: <message>" on stderr.
void Warn(const std::string& message);

}  // namespace detinfer::cli

#endif  // DETINFER_TOOLS_CLI_COMMON_H_
