// Matrix products against weight matrices stored in any computable type.
//
// A WeightMatrix is a row-major [rows, cols] block of a weight tensor (a whole 2-D
// weight, or one expert's slice of a 3-D one). Products are y = W x for each of
// `n_tokens` input vectors: y[t * rows + r] = dot(W[r], x[t]).
#pragma once

#include <cstdint>
#include <span>

#include "tensor/tensor.h"

namespace facet {

class ThreadPool;

// A low-rank LoRA term attached to a weight matrix at inference: matmul() adds
// scale · B (A x) to the product. A is [rank, cols] and B is [rows of the whole matrix,
// rank], both row-major f32, owned by whoever attached them (they must outlive the
// matrix's use). Several adapters on one matrix form a chain through `next`; their terms add.
struct LoraDelta {
  const float* a = nullptr;
  const float* b = nullptr;
  int64_t rank = 0;
  float scale = 1.0f;
  const LoraDelta* next = nullptr;
};

struct WeightMatrix {
  DType dtype = DType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  // Attached LoRA adapters (null: none). Row r of this matrix uses row
  // lora_row_offset + r of each B, so row slices (an expert's gate/up halves) keep theirs.
  const LoraDelta* lora = nullptr;
  int64_t lora_row_offset = 0;
  // The same weights re-laid once at load for this CPU's kernels (kernels/packed_weights.h),
  // or null. `data` stays valid and is what everything else reads; matmul() uses `packed`
  // where the dispatched kernel has a packed path, with the same bits either way.
  const uint8_t* packed = nullptr;

  size_t row_bytes() const { return dtype_row_bytes(dtype, cols); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
  // Rows [first, first + count) as their own matrix (packed only where the slice is whole
  // groups of the packed layout).
  WeightMatrix slice_rows(int64_t first, int64_t count) const;
};

// The 2-D view of a rank-2 tensor, or of expert `index` of a rank-3 tensor [E, rows, cols].
WeightMatrix as_matrix(const TensorView& t);
WeightMatrix expert_matrix(const TensorView& t, int64_t index);

// y[t * W.rows + r] = dot(W row r, x[t * W.cols ...]) for t < n_tokens.
// Rows are split over the pool's threads; pool may be null (single-threaded).
// F32/F16/BF16 weights multiply f32 activations; block-quantized weights (Q8_0, Q4_0,
// Q4_K, Q6_K) multiply activations quantized to 8 bits per block of 32 (see
// matmul_simd.h), which adds a relative error of about 1/254 of each block's max |x|.
// Attached LoRA adapters (w.lora) are added in f32 after the base product.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);

// One product of matmul_same_input: y = W x, laid out as matmul's.
struct MatmulOutput {
  const WeightMatrix* w;
  float* y;
};

// matmul(*p.w, x, n_tokens, p.y, pool) for every p, with the same bits, but in one parallel
// loop over all their rows: the activations are quantized once and the threads meet once
// instead of once per product (q/k/v and gate/up of a layer read one input; on a decode
// step each product is small enough that the meeting and the start of each thread's stream
// cost a good part of its time). Products that cannot share (a LoRA, different column
// counts or activation layouts) run one after another as matmul().
void matmul_same_input(std::span<const MatmulOutput> products, const float* x, int64_t n_tokens, ThreadPool* pool);

// y[t * W.rows + r] += Σ over W.lora's chain of scale · B[lora_row_offset + r] · (A x[t]):
// the LoRA part of matmul() on its own (matmul calls it after the base product).
void add_lora_terms(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);

// Plain scalar reference of matmul (double accumulation), for tests.
void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

// dx[t * dx_stride + c] += Σ_{r < n_rows} dy[t * dy_stride + r] · w[r * cols + c] for
// t < n_tokens, c < cols: the backward product through a block of f32 weight rows
// (w is [n_rows, cols] row-major). Each element gets its terms in row order, one fused
// multiply-add each, so the result does not depend on how callers split the tokens.
void accumulate_transposed(const float* w, int64_t n_rows, int64_t cols, const float* dy, int64_t dy_stride,
                           int64_t n_tokens, float* dx, int64_t dx_stride);

// dw[o * in + i] += Σ_{t < n} dy[t * out + o] · x[t * in + i] for o in [o_begin, o_end), i < in:
// rows of a weight gradient dW [out, in] += dy^T x (x [n, in], dy [n, out]). Each element gets
// its terms in token order, one fused multiply-add each, so splitting the outputs over
// threads does not change a bit.
void accumulate_outer_products(const float* x, int64_t n, int64_t in, const float* dy, int64_t out, int64_t o_begin,
                               int64_t o_end, float* dw);

// f32 dot product with several independent accumulators.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace facet
