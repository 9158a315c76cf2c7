// Scalar path of the elementwise Exp/Log ops: plain loops over ExpF/LogF (math.cc).
#include "kernels/math.h"
#include "kernels/math_isa.h"

namespace detinfer::kernels::scalar {

void ExpRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) out[r * out_stride + i] = ExpF(x[r * x_stride + i]);
  }
}

void LogRows(const float* x, int64_t x_stride, float* out, int64_t out_stride, int64_t n,
             int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) out[r * out_stride + i] = LogF(x[r * x_stride + i]);
  }
}

}  // namespace detinfer::kernels::scalar
