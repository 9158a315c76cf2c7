// Scalar SwiGLU and GeGLU (tanh): the reference sequences of activation.h, with ExpF and TanhF.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/activation_isa.h"
#include "kernels/math.h"

namespace detinfer::kernels::scalar {

namespace {

float CanonicalNaN() {
  const uint32_t bits = 0x7fc00000u;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float SwiGluOne(float a, float u) {
  const float e = ExpF(-a);
  const float den = 1.0f + e;
  float s = a / den;
  if (a == -INFINITY) s = -0.0f;
  const float v = s * u;
  return std::isnan(v) ? CanonicalNaN() : v;
}

// activation.h's GeGluTanh sequence.
inline float GeGluTanhOne(float a, float u) {
  const float x3 = (a * a) * a;
  const float inner = 0.7978845608f * (a + 0.044715f * x3);
  const float t = TanhF(inner);
  float g = (0.5f * a) * (1.0f + t);
  if (a == -INFINITY) g = -0.0f;
  const float v = g * u;
  return std::isnan(v) ? CanonicalNaN() : v;
}

template <float (*Op)(float, float)>
void GatedRows1(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    float* o = out + r * out_stride;
    for (int64_t i = 0; i < f; ++i) o[i] = Op(g[i], u[i]);
  }
}

}  // namespace

void GeGluTanhRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                   float* out, int64_t out_stride, int64_t f, int64_t rows) {
  GatedRows1<GeGluTanhOne>(gate, gate_stride, up, up_stride, out, out_stride, f, rows);
}

void SwiGluRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  GatedRows1<SwiGluOne>(gate, gate_stride, up, up_stride, out, out_stride, f, rows);
}

}  // namespace detinfer::kernels::scalar
