// What a file is, judged from its first bytes, so that a file given in the wrong place (notes,
// a tokenizer.json, a PyTorch checkpoint passed as MODEL) is named for what it is before some
// format's parser blames its own header fields ("llama2.c header field dim = 538970747").
#ifndef DETINFER_MODEL_FILE_KIND_H_
#define DETINFER_MODEL_FILE_KIND_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace detinfer {

enum class FileKind {
  kEmpty,
  kGguf,      // starts with "GGUF"
  kJson,      // text whose first non-blank character is '{' or '['
  kText,      // other text: no NUL byte, only printable ASCII, whitespace or UTF-8 in the head
  kZip,       // "PK\3\4": a PyTorch .pt/.pth/.bin checkpoint, or any zip archive
  kPickle,    // 0x80 then protocol 2..5: a legacy PyTorch checkpoint
  kBinary,    // anything else (what a llama2.c checkpoint or tokenizer.bin looks like)
};

// Classifies `head`, a file's first bytes (512 are plenty; fewer for a short file).
FileKind ClassifyFileHead(std::string_view head);
// Reads the head of `path` and classifies it; an unreadable file is an error naming it.
Result<FileKind> SniffFile(const std::string& path);
// "a JSON file", "a text file", ... for messages.
std::string_view FileKindName(FileKind kind);

}  // namespace detinfer

#endif  // DETINFER_MODEL_FILE_KIND_H_
