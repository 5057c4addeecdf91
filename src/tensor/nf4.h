// bitsandbytes NF4 (QLoRA's 4-bit NormalFloat), as stored by bitsandbytes and as facet
// computes with it.
//
// bitsandbytes quantizes the *flattened* weight in blocks of 64: one absmax per block,
// code = nearest entry of the 16-value NF4 table to w / absmax, two codes per byte with
// element 2k in the HIGH nibble. With double quantization ("compress_statistics") the
// per-block absmax values are themselves stored as 8-bit codes: offset = mean(absmax),
// (absmax - offset) quantized blockwise (blocks of 256) with the signed "dynamic" 8-bit
// table, one f32 absmax per 256-block. Decoding: absmax_b = table8[q_b] · absmax2[b/256] + offset.
//
// facet's runtime NF4 (DType::NF4) keeps the decoded absmax next to its codes: a block of
// 64 elements is 36 bytes (f32 absmax, then 32 code bytes in bitsandbytes' nibble order),
// 4.5 bits per weight. Decoding the double-quantized absmax once at load time costs 0.375
// bits per weight over bitsandbytes' 4.127 but makes every row self-contained, so NF4 rows
// work with every row-based path (matmul, the training backward pass, export).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace facet {

inline constexpr int kNf4Block = 64;            // bitsandbytes' default and QLoRA's block size
inline constexpr int kNf4NestedBlock = 256;     // blocks of absmax per double-quantization block
inline constexpr int kNf4BlockBytes = 4 + kNf4Block / 2;

// bitsandbytes get_4bit_type("nf4"), index -> value.
extern const std::array<float, 16> kNf4Codebook;

// bitsandbytes create_dynamic_map(signed=True): 256 sorted values in [-1, 1] (7 exponent
// bits, linear fractions), the table double quantization uses for absmax.
const std::array<float, 256>& dynamic_map_signed();

// Runtime NF4 rows (DType::NF4 layout above); n is a multiple of 64.
void dequantize_row_nf4(const void* src, float* dst, int64_t n);
void quantize_row_nf4(const float* src, void* dst, int64_t n);

// Index of the NF4 value nearest to x (x in [-1, 1]), as bitsandbytes' decision tree picks it.
uint8_t nf4_nearest_code(float x);

// A tensor as bitsandbytes stores it (flattened, n elements).
struct BnbNf4Quantized {
  std::vector<uint8_t> packed;          // ceil(n/2) bytes, element 2k in the high nibble
  std::vector<uint8_t> absmax_codes;    // one per 64-block: index into dynamic_map_signed()
  std::vector<float> nested_absmax;     // one per 256 absmax codes
  float offset = 0;                     // mean of the block absmax values
};

// Quantizes n floats the way bitsandbytes quantize_4bit(quant_type="nf4", blocksize=64,
// compress_statistics=True) does.
BnbNf4Quantized quantize_bnb_nf4(const float* w, int64_t n);

// The per-block absmax values encoded by double quantization, decoded in f32 as
// bitsandbytes does (table8[q] * nested_absmax[b / nested_block], then + offset).
// nested_map has 256 entries; nested_absmax holds ceil(n_blocks / nested_block).
std::vector<float> decode_nested_absmax(const uint8_t* codes, int64_t n_blocks, const float* nested_map,
                                        const float* nested_absmax, int64_t nested_block, float offset);

// Element i of a bitsandbytes NF4 tensor (flattened): kNf4Codebook[nibble] * absmax[i / 64].
float bnb_nf4_element(const uint8_t* packed, const float* absmax, int64_t i);

// Repacks a bitsandbytes NF4 matrix [rows, cols] (cols a multiple of 64, so no block spans
// two rows) into runtime NF4 rows.
std::vector<uint8_t> bnb_nf4_to_runtime(const uint8_t* packed, const float* absmax, int64_t rows, int64_t cols);

}  // namespace facet
