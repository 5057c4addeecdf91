#include "kernels/matmul.h"

#include <vector>

#include "tensor/convert.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {

WeightMatrix as_matrix(const TensorView& t) {
  require(t.rank() == 2, "internal: as_matrix on a tensor of rank ", t.rank());
  return {t.dtype, t.data, t.dim(0), t.dim(1)};
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

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  auto rows_task = [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> row_f32;
    // F32 rows are used in place when aligned (safetensors data need not be).
    const bool in_place = w.dtype == DType::F32 && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0 &&
                          w.row_bytes() % alignof(float) == 0;
    if (!in_place) row_f32.resize(static_cast<size_t>(w.cols));
    for (int64_t r = begin; r < end; ++r) {
      const float* row;
      if (in_place) {
        row = reinterpret_cast<const float*>(w.row(r));
      } else {
        row_to_f32(w.dtype, w.row(r), row_f32.data(), w.cols);
        row = row_f32.data();
      }
      for (int64_t t = 0; t < n_tokens; ++t) y[t * w.rows + r] = dot_f32(row, x + t * w.cols, w.cols);
    }
  };
  if (pool != nullptr && w.rows * w.cols * n_tokens >= (1 << 15))
    pool->parallel_for(w.rows, rows_task, 8);
  else
    rows_task(0, w.rows);
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
