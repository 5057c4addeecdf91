// SIMD row kernels behind matmul() (matmul_float_simd.cpp, matmul_quant_simd.cpp), compiled
// for several instruction sets (Google Highway) and picked at run time for the CPU at hand.
//
// Quantized weights are multiplied against activations quantized to 8 bits per block of
// 32 (scale = max|x| / 127, like Q8_0 but with an f32 scale), so the inner loop is an
// integer dot product of bytes: on x86 (AVX2, AVX-512) unsigned-by-signed byte
// multiply-adds (vpmaddubsw, or vpdpbusd with VNNI), elsewhere Highway int16 products.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul.h"

namespace facet {

inline constexpr int kActivationBlock = 32;

struct QuantizedActivations {
  int64_t cols = 0;
  int64_t n_tokens = 0;
  // Unique to each prepare_activations call (process-wide), so kernels can tell whether
  // something they derived from these activations is still current.
  uint64_t version = 0;
  std::vector<int8_t> q;            // [n_tokens, cols], each in [-127, 127]
  // Whether q16 and q_paired below are filled: only the int16 and AVX2 paired kernels read
  // them, and the AVX-512 VNNI kernels' types skip them (writing them cost 6% of a Q4_0
  // prompt's time). The buffers only grow, so a call never pays to zero them.
  bool widened = true;
  std::vector<int16_t> q16;         // q widened, for the int16 kernels (no widening per row)
  // q with each block of 32 in the order [0 1 16 17 2 3 18 19 ...]: a vpmaddwd lane's
  // elements, for the AVX2 prefill kernels that match the int16 kernels' sums (see
  // matmul_quant_paired_x86-inl.h).
  std::vector<int8_t> q_paired;
  std::vector<float> scale;         // [n_tokens, cols / 32]: x ≈ scale * q
  std::vector<float> scaled_sum;    // [n_tokens, cols / 32]: scale * Σ q, for Q4_K's min term
  std::vector<int32_t> qsum;        // [n_tokens, cols / 32]: Σ q, for the VNNI kernels' weight offsets
  std::vector<int32_t> qsum16;      // [n_tokens, cols / 16]: Σ q per 16 (Q6_K's half blocks)

  const int8_t* token_q(int64_t t) const { return q.data() + t * cols; }
  const int16_t* token_q16(int64_t t) const { return q16.data() + t * cols; }
  const int8_t* token_q_paired(int64_t t) const { return q_paired.data() + t * cols; }
  const float* token_scale(int64_t t) const { return scale.data() + t * (cols / kActivationBlock); }
  const float* token_sum(int64_t t) const { return scaled_sum.data() + t * (cols / kActivationBlock); }
  const int32_t* token_qsum(int64_t t) const { return qsum.data() + t * (cols / kActivationBlock); }
  const int32_t* token_qsum16(int64_t t) const { return qsum16.data() + t * (cols / 16); }
};

// Quantizes tokens [first, first + count) of x ([n_tokens, cols], cols a multiple of 32)
// into `out`, which must already be sized by prepare_activations for the weights' type (it
// decides whether the dispatched kernels need q16 and q_paired).
void prepare_activations(int64_t n_tokens, int64_t cols, DType weights, QuantizedActivations& out);
void quantize_activations(const float* x, int64_t first, int64_t count, QuantizedActivations& out);

// y rows [row_begin, row_end) for every token; y is [n_tokens, w.rows].
void matmul_rows_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                       int64_t row_end);  // F32, F16, BF16, NF4 weights
void matmul_rows_quantized(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                           int64_t row_end);  // Q8_0, Q4_0, Q4_K, Q6_K weights

// matmul() of quantized weights through the x86 byte-product kernels (matmul_quant_x86-inl.h)
// even where the dispatcher prefers the int16 kernels for a type, single-threaded, for tests.
// Returns false (y untouched) where the dispatched target has no byte kernels.
bool matmul_quantized_bytes_for_test(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

// Whether the dispatched kernels for weights of this type read QuantizedActivations' q16 or
// q_paired (false only where the AVX-512 VNNI kernels take the type).
bool matmul_needs_widened_activations(DType weights);

// Whether the dispatched kernels read WeightMatrix::packed for weights of this type (the
// AVX-512 VNNI kernels, for Q4_0, Q8_0 and Q4_K); packed_weights.h packs only those.
bool matmul_reads_packed_weights(DType weights);

// The instruction set the dispatcher picked ("AVX2", "AVX3", ...), for benchmark labels.
const char* matmul_simd_target();
// The targets compiled into the kernels that this CPU supports (tests run each in turn with
// hwy::SetSupportedTargetsForTest).
std::vector<int64_t> matmul_simd_targets();

}  // namespace facet
