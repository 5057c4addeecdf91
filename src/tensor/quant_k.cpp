// Q4_K and Q6_K: 256-element super-blocks with quantized per-sub-block scales.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/convert.h"
#include "tensor/quant_blocks.h"

namespace facet {
namespace {

int round_clamp(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::nearbyint(v)), lo, hi);
}

// Fits x[i] ≈ scale * q[i] - min with q in 0..15 and min >= 0 (Q4_K's asymmetric form):
// start from the min/max grid, then alternate re-rounding q and a least-squares fit of
// (scale, min) a few times, keeping the best fit seen.
void fit_scale_min(const float* x, int n, float* best_scale, float* best_min) {
  float lo = 0, hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  float scale = (hi - lo) / 15.0f, min = -lo;
  *best_scale = scale;
  *best_min = min;
  if (scale <= 0) return;
  float best_err = INFINITY;
  for (int iter = 0; iter < 4 && scale > 0; ++iter) {
    double sq = 0, sx = 0, sqq = 0, sqx = 0, err = 0;
    int q[kQK_K];
    for (int i = 0; i < n; ++i) {
      q[i] = round_clamp((x[i] + min) / scale, 0, 15);
      const float e = scale * static_cast<float>(q[i]) - min - x[i];
      err += static_cast<double>(e) * e;
      sq += q[i];
      sx += x[i];
      sqq += static_cast<double>(q[i]) * q[i];
      sqx += q[i] * static_cast<double>(x[i]);
    }
    if (err < best_err) {
      best_err = static_cast<float>(err);
      *best_scale = scale;
      *best_min = min;
    }
    // Least squares for x ≈ a q + b; b = -min must stay <= 0.
    const double det = n * sqq - sq * sq;
    if (det <= 0) break;
    double a = (n * sqx - sq * sx) / det;
    double b = (sx - a * sq) / n;
    if (b > 0) {
      b = 0;
      a = sqq > 0 ? sqx / sqq : 0;
    }
    scale = static_cast<float>(a);
    min = static_cast<float>(-b);
  }
}

}  // namespace

void dequantize_row_q4_k(const BlockQ4_K* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ4_K& blk = src[b];
    const float d = f16_to_f32(blk.d), dmin = f16_to_f32(blk.dmin);
    float* out = dst + b * kQK_K;
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      q4_k_scale_min(blk.scales, s, &sc, &m);
      const float scale = d * sc, offset = dmin * m;
      const uint8_t* qs = blk.qs + 32 * (s / 2);
      for (int l = 0; l < 32; ++l) {
        const int q = s % 2 == 0 ? qs[l] & 0xF : qs[l] >> 4;
        out[32 * s + l] = scale * static_cast<float>(q) - offset;
      }
    }
  }
}

void dequantize_row_q6_k(const BlockQ6_K* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = src[b];
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < kQK_K; ++i)
      dst[b * kQK_K + i] = d * static_cast<float>(blk.scales[i / 16]) * static_cast<float>(q6_k_value(blk, i) - 32);
  }
}

void quantize_row_q4_k(const float* src, BlockQ4_K* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ4_K& blk = dst[b];
    float scales[8], mins[8], max_scale = 0, max_min = 0;
    for (int s = 0; s < 8; ++s) {
      fit_scale_min(x + 32 * s, 32, &scales[s], &mins[s]);
      max_scale = std::max(max_scale, scales[s]);
      max_min = std::max(max_min, mins[s]);
    }
    blk.d = f32_to_f16(max_scale / 63.0f);
    blk.dmin = f32_to_f16(max_min / 63.0f);
    const float d = f16_to_f32(blk.d), dmin = f16_to_f32(blk.dmin);
    uint8_t sc[8], m[8];
    for (int s = 0; s < 8; ++s) {
      sc[s] = static_cast<uint8_t>(d > 0 ? round_clamp(scales[s] / d, 0, 63) : 0);
      m[s] = static_cast<uint8_t>(dmin > 0 ? round_clamp(mins[s] / dmin, 0, 63) : 0);
    }
    // Pack 8 six-bit scales and mins into 12 bytes (the inverse of q4_k_scale_min).
    std::memset(blk.scales, 0, sizeof blk.scales);
    for (int j = 0; j < 4; ++j) {
      blk.scales[j] = sc[j];
      blk.scales[j + 4] = m[j];
    }
    for (int j = 4; j < 8; ++j) {
      blk.scales[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
      blk.scales[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      blk.scales[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
    // Requantize against the scales as stored.
    std::memset(blk.qs, 0, sizeof blk.qs);
    for (int s = 0; s < 8; ++s) {
      const float scale = d * sc[s], offset = dmin * m[s];
      for (int l = 0; l < 32; ++l) {
        const int q = scale > 0 ? round_clamp((x[32 * s + l] + offset) / scale, 0, 15) : 0;
        blk.qs[32 * (s / 2) + l] |= static_cast<uint8_t>(s % 2 == 0 ? q : q << 4);
      }
    }
  }
}

void quantize_row_q6_k(const float* src, BlockQ6_K* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    BlockQ6_K& blk = dst[b];
    // Each sub-block's largest-magnitude element maps to -32 (the level without a
    // positive twin), so a sub-block scale may be negative; int8 scales allow that.
    float scales[16], max_abs = 0;
    for (int s = 0; s < 16; ++s) {
      float extreme = 0;
      for (int i = 0; i < 16; ++i)
        if (std::fabs(x[16 * s + i]) > std::fabs(extreme)) extreme = x[16 * s + i];
      scales[s] = extreme / -32.0f;
      max_abs = std::max(max_abs, std::fabs(scales[s]));
    }
    blk.d = f32_to_f16(max_abs / 127.0f);
    const float d = f16_to_f32(blk.d);
    std::memset(blk.ql, 0, sizeof blk.ql);
    std::memset(blk.qh, 0, sizeof blk.qh);
    for (int s = 0; s < 16; ++s) blk.scales[s] = static_cast<int8_t>(d > 0 ? round_clamp(scales[s] / d, -127, 127) : 0);
    for (int i = 0; i < kQK_K; ++i) {
      const float scale = d * blk.scales[i / 16];
      const int q = (scale != 0 ? round_clamp(x[i] / scale, -32, 31) : 0) + 32;
      // Inverse of q6_k_value.
      const int half = i / 128, r = i % 128, k = r / 32, l = r % 32;
      uint8_t& low = blk.ql[64 * half + l + 32 * (k % 2)];
      low |= static_cast<uint8_t>(k < 2 ? (q & 0xF) : (q & 0xF) << 4);
      blk.qh[32 * half + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
    }
  }
}

}  // namespace facet
