// Shared pieces of the libFuzzer targets (docs/security.md): every target feeds the bytes to the
// same parser the product uses, through its in-memory entry point, and checks properties that
// must hold for ANY input. A property violation aborts, so libFuzzer saves the input.
#ifndef DETINFER_FUZZ_FUZZ_UTIL_H_
#define DETINFER_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/mapped_file.h"
#include "core/status.h"
#include "core/storage_format.h"
#include "core/tensor.h"

namespace detinfer::fuzz {

// The name a fuzz input plays in error messages, as a path would.
inline constexpr const char* kSource = "fuzz-input";

[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "detinfer fuzz property violated: %s\n", what.c_str());
  std::abort();
}

// Every error a user can cause must name the file at fault (the product's rule), and no parser
// may report an internal error for bad input.
inline void CheckError(const Status& s, std::string_view source = kSource) {
  if (s.ok()) return;
  if (s.message().find(source) == std::string::npos) {
    Fail("error does not name the source '" + std::string(source) + "': " + s.ToString());
  }
  if (s.code() == StatusCode::kInternal) Fail("internal error on input: " + s.ToString());
}

inline MappedFile BytesAsFile(const uint8_t* data, size_t size) {
  return MappedFile::FromBytes(data, size, kSource);
}

// Reads the first and the last byte of a view: ASan reports it if a loader let a view reach
// outside the buffer it parsed.
inline void TouchView(const TensorView& v) {
  const int64_t n = v.numel();
  if (n == 0 || v.data == nullptr) return;
  const size_t bytes = StorageBytes(v.dtype, n);  // any storage format, blocks included
  const volatile uint8_t* p = static_cast<const uint8_t*>(v.data);
  (void)p[0];
  (void)p[bytes - 1];
}

}  // namespace detinfer::fuzz

#endif  // DETINFER_FUZZ_FUZZ_UTIL_H_
