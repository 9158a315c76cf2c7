// Quantised block formats: decode, encode, widen, quantise (layouts: quant_blocks.h).
#include "core/quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/storage_format.h"

namespace detinfer {

namespace {

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
void StoreU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void StoreU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
int8_t I8(int v) { return static_cast<int8_t>(v); }
uint8_t U8(int v) { return static_cast<uint8_t>(v); }

// The 32-element formats: nibbles of qs (+ one high bit from qh) and an offset.
void DecodeNibbles32(const uint8_t* qs, uint32_t qh, bool five_bit, int offset, int8_t* q) {
  for (int i = 0; i < 16; ++i) {
    const int h0 = five_bit ? static_cast<int>((qh >> i) & 1u) << 4 : 0;
    const int h1 = five_bit ? static_cast<int>((qh >> (i + 16)) & 1u) << 4 : 0;
    q[i] = I8(((qs[i] & 15) | h0) - offset);
    q[i + 16] = I8(((qs[i] >> 4) | h1) - offset);
  }
}
uint32_t EncodeNibbles32(const int8_t* q, bool five_bit, int offset, uint8_t* qs) {
  uint32_t qh = 0;
  for (int i = 0; i < 16; ++i) {
    const int a = q[i] + offset, b = q[i + 16] + offset;
    qs[i] = U8((a & 15) | (b & 15) << 4);
    if (five_bit) qh |= static_cast<uint32_t>((a >> 4) & 1) << i |
                        static_cast<uint32_t>((b >> 4) & 1) << (i + 16);
  }
  return qh;
}

// Q4_K/Q5_K 6-bit scales and mins, packed into 12 bytes.
void DecodeScalesK(const uint8_t* s, int8_t* sc, uint8_t* m) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      sc[j] = I8(s[j] & 63);
      m[j] = U8(s[j + 4] & 63);
    } else {
      sc[j] = I8((s[j + 4] & 15) | (s[j - 4] >> 6) << 4);
      m[j] = U8((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
  }
}
void EncodeScalesK(const int8_t* sc, const uint8_t* m, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const int a = sc[j] & 63, b = m[j] & 63;
    if (j < 4) {
      s[j] = U8(s[j] | a);
      s[j + 4] = U8(s[j + 4] | b);
    } else {
      s[j + 4] = U8((a & 15) | (b & 15) << 4);
      s[j - 4] = U8(s[j - 4] | (a >> 4) << 6);
      s[j] = U8(s[j] | (b >> 4) << 6);
    }
  }
}

// x clamped to [lo, hi] before the conversion (a NaN, 0 * Inf when a scale underflows, gives
// 0): a float outside int's range must never reach static_cast<int>.
int ClampToInt(float x, int lo, int hi) {
  if (std::isnan(x)) return 0;
  return static_cast<int>(std::clamp(x, static_cast<float>(lo), static_cast<float>(hi)));
}
int NearestInt(float x, int lo, int hi) { return ClampToInt(std::nearbyint(x), lo, hi); }  // ties to even

// The signed value of largest magnitude (the first one on ties).
float SignedAbsMax(const float* x, int n) {
  float best = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(best)) best = x[i];
  }
  return best;
}

bool AllFinite(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

// Quantisation of one block into integer form (the rules of llama.cpp's reference
// quantisers for the 32-element formats; a direct min/max rule for the K formats).
void QuantizeBlock(DType dtype, const float* x, QuantInts* b) {
  std::memset(b, 0, sizeof(*b));
  switch (dtype) {
    case DType::kQ8_0: {
      float amax = 0.0f;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      b->d_bits = F32ToF16(d);
      for (int i = 0; i < 32; ++i) b->q[i] = I8(NearestInt(x[i] * id, -127, 127));
      return;
    }
    case DType::kQ4_0:
    case DType::kQ5_0: {
      const int half = dtype == DType::kQ4_0 ? 8 : 16;
      const float d = SignedAbsMax(x, 32) / static_cast<float>(-half);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      b->d_bits = F32ToF16(d);
      for (int i = 0; i < 32; ++i) {
        // Truncation of a non-negative value, as llama.cpp's reference quantiser.
        const int q = ClampToInt(x[i] * id + (static_cast<float>(half) + 0.5f), 0, 2 * half - 1);
        b->q[i] = I8(q - half);
      }
      return;
    }
    case DType::kQ4_1:
    case DType::kQ5_1: {
      const int nmax = dtype == DType::kQ4_1 ? 15 : 31;
      float lo = x[0], hi = x[0];
      for (int i = 1; i < 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
      const float d = (hi - lo) / static_cast<float>(nmax);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      b->d_bits = F32ToF16(d);
      b->dmin_bits = F32ToF16(lo);
      for (int i = 0; i < 32; ++i) {
        b->q[i] = I8(ClampToInt((x[i] - lo) * id + 0.5f, 0, nmax));
      }
      return;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      // Per sub-block: the min (at most 0) is taken by m_j, the range by sc_j, each a 6-bit
      // multiple of the block's dmin and d. sc_j is rounded up so that the range it covers
      // includes the min's rounding: no element is clipped at the top.
      const int nmax = dtype == DType::kQ4_K ? 15 : 31;
      float mins[8], ranges[8], max_min = 0.0f;
      for (int j = 0; j < 8; ++j) {
        float lo = 0.0f, hi = x[32 * j];
        for (int i = 0; i < 32; ++i) lo = std::min(lo, x[32 * j + i]), hi = std::max(hi, x[32 * j + i]);
        mins[j] = -lo;
        ranges[j] = std::max(hi, 0.0f) - lo;
        max_min = std::max(max_min, mins[j]);
      }
      b->dmin_bits = F32ToF16(max_min / 63.0f);
      const float dmin = F16ToF32(b->dmin_bits);
      float max_scale = 0.0f;
      for (int j = 0; j < 8; ++j) {
        ranges[j] = (ranges[j] + 0.5f * dmin) / static_cast<float>(nmax);
        max_scale = std::max(max_scale, ranges[j]);
      }
      b->d_bits = F32ToF16(max_scale / 62.0f);  // headroom for the f16 rounding of d
      const float d = F16ToF32(b->d_bits);
      for (int j = 0; j < 8; ++j) {
        const int m = dmin > 0.0f ? NearestInt(mins[j] / dmin, 0, 63) : 0;
        const int sc = d > 0.0f ? ClampToInt(std::ceil(ranges[j] / d), 0, 63) : 0;
        b->m[j] = U8(m);
        b->sc[j] = I8(sc);
        const float step = d * static_cast<float>(sc), shift = dmin * static_cast<float>(m);
        for (int i = 0; i < 32; ++i) {
          const int q = step > 0.0f ? NearestInt((x[32 * j + i] + shift) / step, 0, nmax) : 0;
          b->q[32 * j + i] = I8(q);
        }
      }
      return;
    }
    case DType::kQ6_K: {
      float scales[16], max_abs = 0.0f;
      for (int j = 0; j < 16; ++j) {
        scales[j] = SignedAbsMax(x + 16 * j, 16) / -32.0f;
        max_abs = std::max(max_abs, std::fabs(scales[j]));
      }
      b->d_bits = F32ToF16(max_abs / 127.0f);
      const float d = F16ToF32(b->d_bits);
      for (int j = 0; j < 16; ++j) {
        const int sc = d > 0.0f ? NearestInt(scales[j] / d, -127, 127) : 0;
        b->sc[j] = I8(sc);
        const float step = d * static_cast<float>(sc);
        for (int i = 0; i < 16; ++i) {
          const int q = step != 0.0f ? NearestInt(x[16 * j + i] / step, -32, 31) : 0;
          b->q[16 * j + i] = I8(q);
        }
      }
      return;
    }
    case DType::kF32: case DType::kBF16: case DType::kF16: return;
  }
}

}  // namespace

void DecodeQuantBlock(DType dtype, const uint8_t* p, QuantInts* out) {
  std::memset(out, 0, sizeof(*out));
  switch (dtype) {
    case DType::kQ8_0:
      out->d_bits = LoadU16(p);
      std::memcpy(out->q, p + 2, 32);
      return;
    case DType::kQ4_0:
      out->d_bits = LoadU16(p);
      DecodeNibbles32(p + 2, 0, false, 8, out->q);
      return;
    case DType::kQ4_1:
      out->d_bits = LoadU16(p);
      out->dmin_bits = LoadU16(p + 2);
      DecodeNibbles32(p + 4, 0, false, 0, out->q);
      return;
    case DType::kQ5_0:
      out->d_bits = LoadU16(p);
      DecodeNibbles32(p + 6, LoadU32(p + 2), true, 16, out->q);
      return;
    case DType::kQ5_1:
      out->d_bits = LoadU16(p);
      out->dmin_bits = LoadU16(p + 2);
      DecodeNibbles32(p + 8, LoadU32(p + 4), true, 0, out->q);
      return;
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool five = dtype == DType::kQ5_K;
      out->d_bits = LoadU16(p);
      out->dmin_bits = LoadU16(p + 2);
      DecodeScalesK(p + 4, out->sc, out->m);
      const uint8_t* qh = p + 16;
      const uint8_t* qs = p + (five ? 48 : 16);
      for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
          const int h0 = five ? ((qh[l] >> (2 * c)) & 1) << 4 : 0;
          const int h1 = five ? ((qh[l] >> (2 * c + 1)) & 1) << 4 : 0;
          out->q[64 * c + l] = I8((qs[32 * c + l] & 15) | h0);
          out->q[64 * c + 32 + l] = I8((qs[32 * c + l] >> 4) | h1);
        }
      }
      return;
    }
    case DType::kQ6_K: {
      const uint8_t* ql = p;
      const uint8_t* qh = p + 128;
      std::memcpy(out->sc, p + 192, 16);
      out->d_bits = LoadU16(p + 208);
      for (int h = 0; h < 2; ++h) {
        for (int t = 0; t < 4; ++t) {
          for (int l = 0; l < 32; ++l) {
            const uint8_t lo = ql[64 * h + l + 32 * (t & 1)];
            const int low = t < 2 ? lo & 15 : lo >> 4;
            const int high = (qh[32 * h + l] >> (2 * t)) & 3;
            out->q[128 * h + 32 * t + l] = I8((low | high << 4) - 32);
          }
        }
      }
      return;
    }
    case DType::kF32: case DType::kBF16: case DType::kF16: return;
  }
}

void EncodeQuantBlock(DType dtype, const QuantInts& in, uint8_t* p) {
  switch (dtype) {
    case DType::kQ8_0:
      StoreU16(p, in.d_bits);
      std::memcpy(p + 2, in.q, 32);
      return;
    case DType::kQ4_0:
      StoreU16(p, in.d_bits);
      EncodeNibbles32(in.q, false, 8, p + 2);
      return;
    case DType::kQ4_1:
      StoreU16(p, in.d_bits);
      StoreU16(p + 2, in.dmin_bits);
      EncodeNibbles32(in.q, false, 0, p + 4);
      return;
    case DType::kQ5_0:
      StoreU16(p, in.d_bits);
      StoreU32(p + 2, EncodeNibbles32(in.q, true, 16, p + 6));
      return;
    case DType::kQ5_1:
      StoreU16(p, in.d_bits);
      StoreU16(p + 2, in.dmin_bits);
      StoreU32(p + 4, EncodeNibbles32(in.q, true, 0, p + 8));
      return;
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool five = dtype == DType::kQ5_K;
      StoreU16(p, in.d_bits);
      StoreU16(p + 2, in.dmin_bits);
      EncodeScalesK(in.sc, in.m, p + 4);
      uint8_t* qh = p + 16;
      uint8_t* qs = p + (five ? 48 : 16);
      if (five) std::memset(qh, 0, 32);
      for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
          const int a = in.q[64 * c + l], b = in.q[64 * c + 32 + l];
          qs[32 * c + l] = U8((a & 15) | (b & 15) << 4);
          if (five) qh[l] = U8(qh[l] | ((a >> 4) & 1) << (2 * c) | ((b >> 4) & 1) << (2 * c + 1));
        }
      }
      return;
    }
    case DType::kQ6_K: {
      uint8_t* ql = p;
      uint8_t* qh = p + 128;
      std::memset(p, 0, 192);
      std::memcpy(p + 192, in.sc, 16);
      StoreU16(p + 208, in.d_bits);
      for (int h = 0; h < 2; ++h) {
        for (int t = 0; t < 4; ++t) {
          for (int l = 0; l < 32; ++l) {
            const int v = in.q[128 * h + 32 * t + l] + 32;
            uint8_t& lo = ql[64 * h + l + 32 * (t & 1)];
            lo = U8(lo | (t < 2 ? (v & 15) : (v & 15) << 4));
            qh[32 * h + l] = U8(qh[32 * h + l] | ((v >> 4) & 3) << (2 * t));
          }
        }
      }
      return;
    }
    case DType::kF32: case DType::kBF16: case DType::kF16: return;
  }
}

void WidenQuantBlocks(DType dtype, const uint8_t* blocks, int64_t n_blocks, float* dst) {
  const StorageFormat& f = FormatOf(dtype);
  QuantInts b;
  for (int64_t k = 0; k < n_blocks; ++k) {
    DecodeQuantBlock(dtype, blocks + static_cast<size_t>(k) * f.block_bytes, &b);
    float* y = dst + k * f.block_elems;
    const float d = F16ToF32(b.d_bits), dmin = F16ToF32(b.dmin_bits);
    switch (dtype) {
      case DType::kQ8_0: case DType::kQ4_0: case DType::kQ5_0:
        for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(b.q[i]);
        break;
      case DType::kQ4_1: case DType::kQ5_1:
        for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(b.q[i]) + dmin;
        break;
      case DType::kQ4_K: case DType::kQ5_K:
        for (int i = 0; i < 256; ++i) {
          const int j = i / 32;
          y[i] = (d * static_cast<float>(b.sc[j])) * static_cast<float>(b.q[i]) -
                 dmin * static_cast<float>(b.m[j]);
        }
        break;
      case DType::kQ6_K:
        for (int i = 0; i < 256; ++i) {
          y[i] = (d * static_cast<float>(b.sc[i / 16])) * static_cast<float>(b.q[i]);
        }
        break;
      case DType::kF32: case DType::kBF16: case DType::kF16: break;
    }
  }
}

void QuantizeBlocks(DType dtype, const float* src, int64_t n_blocks, uint8_t* blocks) {
  const StorageFormat& f = FormatOf(dtype);
  QuantInts b;
  for (int64_t k = 0; k < n_blocks; ++k) {
    const float* x = src + k * f.block_elems;
    if (AllFinite(x, f.block_elems)) {
      QuantizeBlock(dtype, x, &b);
    } else {
      std::memset(&b, 0, sizeof(b));
    }
    EncodeQuantBlock(dtype, b, blocks + static_cast<size_t>(k) * f.block_bytes);
  }
}

int64_t FirstNonFiniteScale(DType dtype, const uint8_t* blocks, int64_t n_blocks) {
  const StorageFormat& f = FormatOf(dtype);
  // Where the f16 scales sit in each block.
  size_t at[2] = {0, 0};
  int count = 1;
  switch (dtype) {
    case DType::kQ4_1: case DType::kQ5_1: case DType::kQ4_K: case DType::kQ5_K:
      at[1] = 2, count = 2;
      break;
    case DType::kQ6_K: at[0] = 208; break;
    default: break;
  }
  for (int64_t k = 0; k < n_blocks; ++k) {
    const uint8_t* p = blocks + static_cast<size_t>(k) * f.block_bytes;
    for (int i = 0; i < count; ++i) {
      if ((LoadU16(p + at[i]) & 0x7c00u) == 0x7c00u) return k;  // exponent all ones
    }
  }
  return -1;
}

}  // namespace detinfer
