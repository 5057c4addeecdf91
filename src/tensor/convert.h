// Scalar conversions between the 16-bit float formats and f32, and whole-row
// conversion of a weight row of any computable type to f32.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

namespace facet {

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round-to-nearest-even, NaN kept quiet (as PyTorch's and ggml's conversions do).
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);
// f16_to_f32 of every bit pattern (256 KiB, built on first use): fast scalar decoding of
// block scales in the kernels.
const float* f16_table();
uint16_t f32_to_f16(float f);  // round-to-nearest-even, overflow to inf

// Converts `n` elements of a row stored as `dtype` to f32 (dequantizing block types;
// `n` must then be whole blocks). `dtype` must be computable.
void row_to_f32(DType dtype, const void* src, float* dst, int64_t n);
// Converts `n` f32 values to `dtype` (F32, F16, BF16 or a computable block type).
void row_from_f32(DType dtype, const float* src, void* dst, int64_t n);

}  // namespace facet
