// GGML block-quantized weight types, bit-compatible with GGUF files.
//
// Layouts are ggml's (ggml-common.h): a block stores `block_size` consecutive elements of
// one row. Dequantization follows ggml's formulas exactly; quantization is facet's own
// (a reasonable fit, not llama.cpp's bit-for-bit search). f16 fields hold IEEE half bits.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace facet {

inline constexpr int kQK8_0 = 32;   // Q8_0 / Q4_0 block size
inline constexpr int kQK_K = 256;   // K-quant super-block size

// Q8_0: x[i] = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// Q4_0: x[j] = d * ((qs[j] & 15) - 8), x[j + 16] = d * ((qs[j] >> 4) - 8), j < 16.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK8_0 / 2];
};

// Q4_K: 8 sub-blocks of 32, each with a 6-bit scale sc and 6-bit min m packed in
// `scales` (see q4_k_scale_min); x = d * sc * q - dmin * m. qs[32 g + l] holds element
// 64 g + l in its low nibble and element 64 g + 32 + l in its high nibble.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 16 sub-blocks of 16 with int8 scales; x = d * scales[s] * (q - 32), q 6 bits:
// low 4 bits in ql, high 2 bits in qh (layout in q6_k_value).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);

// Sub-block j's (scale, min) of a Q4_K block: j < 4 in the low 6 bits of bytes j and j+4;
// j >= 4 split between a nibble of byte j+4 and the top 2 bits of bytes j-4 and j.
inline void q4_k_scale_min(const uint8_t* scales, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// The 6-bit quant (0..63) of element i (< 256) of a Q6_K block. Each half of 128 uses 64
// ql bytes and 32 qh bytes: element 32 k + l (k < 4, l < 32) takes the low (k < 2) or high
// (k >= 2) nibble of ql[l + 32 (k % 2)] and bits 2k..2k+1 of qh[l]. Its scale is scales[i / 16].
inline int q6_k_value(const BlockQ6_K& b, int i) {
  const int half = i / 128, r = i % 128, k = r / 32, l = r % 32;
  const uint8_t* ql = b.ql + 64 * half;
  const uint8_t* qh = b.qh + 32 * half;
  const uint8_t byte = ql[l + 32 * (k % 2)];
  const int low = k < 2 ? byte & 0xF : byte >> 4;
  const int high = (qh[l] >> (2 * k)) & 3;
  return low | (high << 4);
}

bool is_block_quantized(DType dtype);  // Q8_0, Q4_0, Q4_K, Q6_K

// Dequantizes `n` elements (a multiple of the block size) of a row of `dtype`.
void dequantize_row(DType dtype, const void* src, float* dst, int64_t n);
// Quantizes `n` elements (a multiple of the block size) into blocks of `dtype`.
void quantize_row(DType dtype, const float* src, void* dst, int64_t n);

// Per-type implementations (one file per type family).
void dequantize_row_q8_0(const BlockQ8_0* src, float* dst, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* src, float* dst, int64_t n);
void dequantize_row_q4_k(const BlockQ4_K* src, float* dst, int64_t n);
void dequantize_row_q6_k(const BlockQ6_K* src, float* dst, int64_t n);
void quantize_row_q8_0(const float* src, BlockQ8_0* dst, int64_t n);
void quantize_row_q4_0(const float* src, BlockQ4_0* dst, int64_t n);
void quantize_row_q4_k(const float* src, BlockQ4_K* dst, int64_t n);
void quantize_row_q6_k(const float* src, BlockQ6_K* dst, int64_t n);

}  // namespace facet
