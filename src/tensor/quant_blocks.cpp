#include "tensor/quant_blocks.h"

#include "util/error.h"

namespace facet {

bool is_block_quantized(DType dtype) {
  return dtype == DType::Q8_0 || dtype == DType::Q4_0 || dtype == DType::Q4_K || dtype == DType::Q6_K;
}

void dequantize_row(DType dtype, const void* src, float* dst, int64_t n) {
  require(n % dtype_info(dtype).block_size == 0, "row of ", n, " elements is not whole ", dtype_name(dtype), " blocks");
  switch (dtype) {
    case DType::Q8_0: return dequantize_row_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
    case DType::Q4_0: return dequantize_row_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
    case DType::Q4_K: return dequantize_row_q4_k(static_cast<const BlockQ4_K*>(src), dst, n);
    case DType::Q6_K: return dequantize_row_q6_k(static_cast<const BlockQ6_K*>(src), dst, n);
    default: fail("no dequantization for type ", dtype_name(dtype));
  }
}

void quantize_row(DType dtype, const float* src, void* dst, int64_t n) {
  require(n % dtype_info(dtype).block_size == 0, "row of ", n, " elements is not whole ", dtype_name(dtype), " blocks");
  switch (dtype) {
    case DType::Q8_0: return quantize_row_q8_0(src, static_cast<BlockQ8_0*>(dst), n);
    case DType::Q4_0: return quantize_row_q4_0(src, static_cast<BlockQ4_0*>(dst), n);
    case DType::Q4_K: return quantize_row_q4_k(src, static_cast<BlockQ4_K*>(dst), n);
    case DType::Q6_K: return quantize_row_q6_k(src, static_cast<BlockQ6_K*>(dst), n);
    default: fail("no quantization for type ", dtype_name(dtype));
  }
}

}  // namespace facet
