#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/matmul_simd.h"
#include "kernels/packed_weights.h"
#include "tensor/convert.h"
#include "tensor/quant_blocks.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {

WeightMatrix as_matrix(const TensorView& t) {
  require(t.rank() == 2, "internal: as_matrix on a tensor of rank ", t.rank());
  return {t.dtype, t.data, t.dim(0), t.dim(1)};
}

WeightMatrix WeightMatrix::slice_rows(int64_t first, int64_t count) const {
  WeightMatrix out{dtype, row(first), count, cols, lora, lora_row_offset + first};
  if (packed != nullptr && first % kPackedRows == 0 && count % kPackedRows == 0)
    out.packed = packed + static_cast<size_t>(first / kPackedRows) * packed_group_bytes(dtype, cols);
  return out;
}

WeightMatrix expert_matrix(const TensorView& t, int64_t index) {
  require(t.rank() == 3 && index >= 0 && index < t.dim(0), "internal: bad expert slice");
  WeightMatrix all{t.dtype, t.data, t.dim(0) * t.dim(1), t.dim(2)};
  return all.slice_rows(index * t.dim(1), t.dim(1));
}

float dot_f32(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums: the compiler can keep them in one vector register,
  // and the error grows more slowly than with a single running sum.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

void prepare_activations(int64_t n_tokens, int64_t cols, DType weights, QuantizedActivations& out) {
  require(cols % kActivationBlock == 0, "internal: quantized matmul needs rows of 32-multiples, got ", cols);
  out.cols = cols;
  out.n_tokens = n_tokens;
  out.widened = matmul_needs_widened_activations(weights);
  static std::atomic<uint64_t> versions{0};
  out.version = versions.fetch_add(1, std::memory_order_relaxed) + 1;
  // Grow only: resizing up again after a smaller call would zero the new tail every time
  // (a layer's matmuls alternate between 1536 and 6144 columns on E2B).
  auto grow = [](auto& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  };
  const int64_t n = n_tokens * cols, blocks = n / kActivationBlock;
  grow(out.q, n);
  if (out.widened) {
    grow(out.q16, n);
    grow(out.q_paired, n);
  }
  grow(out.scale, blocks);
  grow(out.scaled_sum, blocks);
  grow(out.qsum, blocks);
  grow(out.qsum16, 2 * blocks);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  if (w.lora != nullptr) {  // the frozen base product, then the adapters' low-rank terms
    WeightMatrix base = w;
    base.lora = nullptr;
    matmul(base, x, n_tokens, y, pool);
    add_lora_terms(w, x, n_tokens, y, pool);
    return;
  }
  const bool parallel = pool != nullptr && w.rows * w.cols * n_tokens >= (1 << 15);
  // At least 16 rows per chunk keeps each thread's share of the rows contiguous and cheap to start.
  constexpr int64_t kMinRows = 16;
  if (is_block_quantized(w.dtype)) {
    // Reused between calls; a named reference so the workers' lambdas see this thread's buffer.
    thread_local QuantizedActivations buffer;
    QuantizedActivations& xq = buffer;
    prepare_activations(n_tokens, w.cols, w.dtype, xq);
    if (parallel && n_tokens > 1)
      pool->parallel_for(n_tokens, [&](int64_t begin, int64_t end) { quantize_activations(x, begin, end - begin, xq); });
    else
      quantize_activations(x, 0, n_tokens, xq);
    auto rows_task = [&](int64_t begin, int64_t end) { matmul_rows_quantized(w, xq, y, begin, end); };
    if (!parallel) {
      rows_task(0, w.rows);
    } else if (n_tokens > 1 || w.packed != nullptr) {
      // Prefill kernels and packed weights take rows 16 at a time: give each thread whole groups of 16.
      pool->parallel_for((w.rows + kMinRows - 1) / kMinRows, [&](int64_t begin, int64_t end) {
        rows_task(begin * kMinRows, std::min(w.rows, end * kMinRows));
      });
    } else {
      pool->parallel_for(w.rows, rows_task, kMinRows);
    }
    return;
  }
  // NF4 (QLoRA bases) goes through the F32 tiles too, a block of rows decoded at a time.
  require(w.dtype == DType::F32 || w.dtype == DType::F16 || w.dtype == DType::BF16 || w.dtype == DType::NF4,
          "internal: matmul has no kernel for weights of type ", dtype_name(w.dtype));
  auto rows_task = [&](int64_t begin, int64_t end) { matmul_rows_float(w, x, n_tokens, y, begin, end); };
  if (parallel) pool->parallel_for(w.rows, rows_task, kMinRows);
  else rows_task(0, w.rows);
}

void matmul_same_input(std::span<const MatmulOutput> products, const float* x, int64_t n_tokens, ThreadPool* pool) {
  if (products.empty()) return;
  const WeightMatrix& first = *products[0].w;
  const bool quantized = is_block_quantized(first.dtype);
  bool shared = pool != nullptr && products.size() > 1;
  int64_t work = 0;
  for (const MatmulOutput& p : products) {
    const WeightMatrix& w = *p.w;
    shared = shared && w.lora == nullptr && w.cols == first.cols && is_block_quantized(w.dtype) == quantized &&
             (!quantized || matmul_needs_widened_activations(w.dtype) == matmul_needs_widened_activations(first.dtype));
    work += w.rows * w.cols * n_tokens;
  }
  if (!shared || work < (1 << 15)) {
    for (const MatmulOutput& p : products) matmul(*p.w, x, n_tokens, p.y, pool);
    return;
  }
  // Every product's rows in groups of 16 (whole groups of the packed layouts and the prefill
  // tiles; each row's sum does not depend on the group it is computed in), numbered across
  // the products in order.
  constexpr int64_t kGroupRows = 16;
  std::vector<int64_t> first_group(products.size() + 1, 0);
  for (size_t i = 0; i < products.size(); ++i)
    first_group[i + 1] = first_group[i] + (products[i].w->rows + kGroupRows - 1) / kGroupRows;
  thread_local QuantizedActivations buffer;
  QuantizedActivations& xq = buffer;  // named: the workers' lambdas must see this thread's buffer
  if (quantized) {
    prepare_activations(n_tokens, first.cols, first.dtype, xq);
    if (n_tokens > 1)
      pool->parallel_for(n_tokens, [&](int64_t begin, int64_t end) { quantize_activations(x, begin, end - begin, xq); });
    else
      quantize_activations(x, 0, n_tokens, xq);
  }
  pool->parallel_for(first_group.back(), [&](int64_t begin, int64_t end) {
    size_t i = static_cast<size_t>(std::upper_bound(first_group.begin(), first_group.end(), begin) - first_group.begin()) - 1;
    for (int64_t g = begin; g < end; ++i) {
      const int64_t stop = std::min(end, first_group[i + 1]);
      const WeightMatrix& w = *products[i].w;
      const int64_t r0 = (g - first_group[i]) * kGroupRows, r1 = std::min(w.rows, (stop - first_group[i]) * kGroupRows);
      if (quantized) matmul_rows_quantized(w, xq, products[i].y, r0, r1);
      else matmul_rows_float(w, x, n_tokens, products[i].y, r0, r1);
      g = stop;
    }
  });
}

void matmul_reference(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    row_to_f32(w.dtype, w.row(r), row.data(), w.cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      double sum = 0;
      for (int64_t k = 0; k < w.cols; ++k) sum += static_cast<double>(row[static_cast<size_t>(k)]) * x[t * w.cols + k];
      y[t * w.rows + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace facet
