// Packing a block-format weight into qmatmul panels (layout: kernels/simd/qmatmul_layout.h).
//
// Each block is decoded to its integers (core/quant_blocks.h) and its fields placed in the
// panel: a copy of stored integers and f16 scales, no arithmetic, so the bytes are the same
// whatever the split into tasks or the thread count.
#include <algorithm>

#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "core/storage_format.h"
#include "kernels/qmatmul.h"
#include "kernels/simd/qmatmul_layout.h"

namespace detinfer::kernels {

size_t QuantPanelBytes(DType dtype, int64_t k) { return QPanelBytes(dtype, k); }

void PackQuantPanels(std::span<const TensorView> views, std::span<const int64_t> start,
                     int64_t n_total, int64_t k, DType dtype, int64_t p0, int64_t p1,
                     uint8_t* dst) {
  const QLayout l = LayoutOf(dtype);
  const StorageFormat& f = FormatOf(dtype);
  const size_t panel_bytes = QPanelBytes(dtype, k);
  QuantInts ints;
  size_t part = static_cast<size_t>(
      std::upper_bound(start.begin(), start.end(), p0 * kMatmulPanelWidth) - start.begin() - 1);
  for (int64_t p = p0; p < p1; ++p) {
    uint8_t* panel = dst + static_cast<size_t>(p) * panel_bytes;
    for (int c = 0; c < kMatmulPanelWidth; ++c) {
      const int64_t n = p * kMatmulPanelWidth + c;
      if (n >= n_total) break;
      while (start[part] + views[part].shape[0] <= n) ++part;  // skips empty parts too
      const uint8_t* row = views[part].row_bytes(n - start[part]);
      for (int64_t rb = 0; rb < k / l.block_k; ++rb) {
        DecodeQuantBlock(dtype, row + static_cast<size_t>(rb) * f.block_bytes, &ints);
        uint8_t* rec = panel + static_cast<size_t>(rb) * l.record_bytes();
        rec[2 * c] = static_cast<uint8_t>(ints.d_bits);
        rec[2 * c + 1] = static_cast<uint8_t>(ints.d_bits >> 8);
        if (l.has_min) {
          rec[32 + 2 * c] = static_cast<uint8_t>(ints.dmin_bits);
          rec[33 + 2 * c] = static_cast<uint8_t>(ints.dmin_bits >> 8);
        }
        if (l.k_scales) {
          for (int j = 0; j < 8; ++j) {
            rec[64 + 16 * j + c] = static_cast<uint8_t>(ints.sc[j]);
            rec[192 + 16 * j + c] = ints.m[j];
          }
        }
        if (l.q6_scales) {
          for (int j = 0; j < 16; ++j) rec[32 + 16 * j + c] = static_cast<uint8_t>(ints.sc[j]);
        }
        for (int gi = 0; gi < l.groups(); ++gi) {
          uint8_t* grp = rec + l.header_bytes + static_cast<size_t>(gi) * l.group_bytes;
          for (int kk = 0; kk < 32; ++kk) PutU(l, grp, c, kk, ints.q[32 * gi + kk] + l.offset);
        }
      }
    }
  }
}

float QuantPackedAt(DType dtype, const void* data, int64_t k_total, int64_t n, int64_t k) {
  const QLayout l = LayoutOf(dtype);
  const auto* panel = static_cast<const uint8_t*>(data) +
                      static_cast<size_t>(n / kMatmulPanelWidth) * QPanelBytes(dtype, k_total);
  const int c = static_cast<int>(n % kMatmulPanelWidth);
  const uint8_t* rec = panel + static_cast<size_t>(k / l.block_k) * l.record_bytes();
  const int gi = static_cast<int>(k % l.block_k / 32), kk = static_cast<int>(k % 32);
  const uint8_t* grp = rec + l.header_bytes + static_cast<size_t>(gi) * l.group_bytes;
  const float q = static_cast<float>(GetU(l, grp, c, kk) - l.offset);
  const float d = F16ToF32(HeaderD(rec, c));
  if (l.q6_scales) return (d * static_cast<float>(HeaderSc(l, rec, 2 * gi + kk / 16, c))) * q;
  if (l.k_scales) {
    return (d * static_cast<float>(HeaderSc(l, rec, gi, c))) * q -
           F16ToF32(HeaderMin(rec, c)) * static_cast<float>(HeaderM(rec, gi, c));
  }
  if (l.has_min) return d * q + F16ToF32(HeaderMin(rec, c));
  return d * q;
}

}  // namespace detinfer::kernels
