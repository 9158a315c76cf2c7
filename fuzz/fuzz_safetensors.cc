// safetensors: header length, the JSON header, every tensor's dtype/shape/offsets, and a view of
// every tensor the reader accepts (first and last byte read, so ASan sees any escape).
#include "fuzz_util.h"
#include "model/safetensors.h"

using namespace detinfer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<SafetensorsFile> st = SafetensorsFile::Parse(fuzz::BytesAsFile(data, size));
  if (!st.ok()) {
    fuzz::CheckError(st.status());
    return 0;
  }
  for (const auto& [name, t] : st->tensors()) {
    if (t.begin > t.end || t.end > size) fuzz::Fail("tensor '" + name + "' outside the input");
    Result<TensorView> v = st->View(name);
    if (v.ok()) {
      fuzz::TouchView(*v);
    } else {
      fuzz::CheckError(v.status());
    }
  }
  return 0;
}
