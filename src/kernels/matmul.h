// Matrix products against weight matrices stored in any computable type.
//
// A WeightMatrix is a row-major [rows, cols] block of a weight tensor (a whole 2-D
// weight, or one expert's slice of a 3-D one). Products are y = W x for each of
// `n_tokens` input vectors: y[t * rows + r] = dot(W[r], x[t]).
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace facet {

class ThreadPool;

struct WeightMatrix {
  DType dtype = DType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  size_t row_bytes() const { return dtype_row_bytes(dtype, cols); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
  // Rows [first, first + count) as their own matrix.
  WeightMatrix slice_rows(int64_t first, int64_t count) const {
    return {dtype, row(first), count, cols};
  }
};

// The 2-D view of a rank-2 tensor, or of expert `index` of a rank-3 tensor [E, rows, cols].
WeightMatrix as_matrix(const TensorView& t);
WeightMatrix expert_matrix(const TensorView& t, int64_t index);

// y[t * W.rows + r] = dot(W row r, x[t * W.cols ...]) for t < n_tokens.
// Rows are split over the pool's threads; pool may be null (single-threaded).
// F32/F16/BF16 weights multiply f32 activations; block-quantized weights (Q8_0, Q4_0,
// Q4_K, Q6_K) multiply activations quantized to 8 bits per block of 32 (see
// matmul_simd.h), which adds a relative error of about 1/254 of each block's max |x|.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);

// Plain scalar reference of matmul (double accumulation), for tests.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

// f32 dot product with several independent accumulators.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace facet
