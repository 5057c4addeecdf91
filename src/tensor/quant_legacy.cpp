// Q8_0 and Q4_0: one f16 scale per block of 32.
#include <algorithm>
#include <cmath>

#include "tensor/convert.h"
#include "tensor/quant_blocks.h"

namespace facet {

void dequantize_row_q8_0(const BlockQ8_0* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = f16_to_f32(src[b].d);
    for (int i = 0; i < kQK8_0; ++i) dst[b * kQK8_0 + i] = d * static_cast<float>(src[b].qs[i]);
  }
}

void dequantize_row_q4_0(const BlockQ4_0* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = f16_to_f32(src[b].d);
    float* out = dst + b * kQK8_0;
    for (int j = 0; j < kQK8_0 / 2; ++j) {
      out[j] = d * static_cast<float>((src[b].qs[j] & 0xF) - 8);
      out[j + kQK8_0 / 2] = d * static_cast<float>((src[b].qs[j] >> 4) - 8);
    }
  }
}

void quantize_row_q8_0(const float* src, BlockQ8_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    float amax = 0;
    for (int i = 0; i < kQK8_0; ++i) amax = std::max(amax, std::fabs(x[i]));
    dst[b].d = f32_to_f16(amax / 127.0f);
    // Quantize against the stored (f16-rounded) scale so dequantization is as close as it can be.
    const float d = f16_to_f32(dst[b].d);
    const float inv = d > 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < kQK8_0; ++i)
      dst[b].qs[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * inv), -127.0f, 127.0f));
  }
}

void quantize_row_q4_0(const float* src, BlockQ4_0* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* x = src + b * kQK8_0;
    // The element of largest magnitude maps to -8, the one level with no positive twin,
    // so its sign picks the direction of the 16 levels.
    float extreme = 0;
    for (int i = 0; i < kQK8_0; ++i)
      if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
    dst[b].d = f32_to_f16(extreme / -8.0f);
    const float d = f16_to_f32(dst[b].d);
    const float inv = d != 0 ? 1.0f / d : 0.0f;
    auto level = [&](float v) { return static_cast<uint8_t>(std::clamp(std::nearbyint(v * inv) + 8.0f, 0.0f, 15.0f)); };
    for (int j = 0; j < kQK8_0 / 2; ++j)
      dst[b].qs[j] = static_cast<uint8_t>(level(x[j]) | (level(x[j + kQK8_0 / 2]) << 4));
  }
}

}  // namespace facet
