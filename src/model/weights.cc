#include "model/weights.h"

namespace detinfer {

std::string_view ModelFormatName(ModelFormat format) {
  switch (format) {
    case ModelFormat::kLlama2c: return "llama2.c";
    case ModelFormat::kHuggingFace: return "huggingface";
    case ModelFormat::kGguf: return "gguf";
  }
  return "?";
}

void ModelWeights::ReleaseFilePages(const void* data, size_t bytes) const {
  for (const MappedFile& f : files) {
    if (f.Contains(data, bytes)) f.ReleasePages(data, bytes);
  }
}

}  // namespace detinfer
