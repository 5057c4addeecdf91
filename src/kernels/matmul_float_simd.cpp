// Row kernels of matmul() for F32, F16 and BF16 weights, compiled per instruction set with
// Google Highway (foreach_target) and dispatched at run time. Each weight vector is
// converted to f32 once and used for a tile of up to 4 tokens; blocks of rows share a
// token tile so prefill reads the activations from L1.
#include "kernels/simd_targets.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_float_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>

#include "kernels/matmul_simd.h"
#include "tensor/convert.h"

HWY_BEFORE_NAMESPACE();
namespace facet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int kTokenTile = 4;
constexpr int64_t kRowBlock = 16;  // rows that share one token tile (it stays in L1)

// Loads Lanes(df) weights starting at element k as f32.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, DType dtype, const uint8_t* row, int64_t k) {
  if (dtype == DType::F32) return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
  if (dtype == DType::F16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
  }
  const hn::Rebind<hwy::bfloat16_t, DF> db;
  return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(row) + k));
}

float ScalarWeight(DType dtype, const uint8_t* row, int64_t k) {
  float v;
  row_to_f32(dtype, row + dtype_row_bytes(dtype, k), &v, 1);
  return v;
}

// y[t] = dot(row, x_t) for T tokens whose inputs are `stride` floats apart. Two
// accumulators per token hide the FMA latency when T is small.
template <int T>
HWY_INLINE void FloatRowTile(DType dtype, const uint8_t* row, int64_t cols, const float* x, int64_t stride,
                             float* y, int64_t y_stride) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  hn::Vec<decltype(df)> acc0[T], acc1[T];
  _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = hn::Zero(df);
  int64_t k = 0;
  for (; k + 2 * N <= cols; k += 2 * N) {
    const auto w0 = LoadWeights(df, dtype, row, k);
    const auto w1 = LoadWeights(df, dtype, row, k + N);
    _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) {
      acc0[t] = hn::MulAdd(w0, hn::LoadU(df, x + t * stride + k), acc0[t]);
      acc1[t] = hn::MulAdd(w1, hn::LoadU(df, x + t * stride + k + N), acc1[t]);
    }
  }
  for (; k + N <= cols; k += N) {
    const auto w0 = LoadWeights(df, dtype, row, k);
    _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) acc0[t] = hn::MulAdd(w0, hn::LoadU(df, x + t * stride + k), acc0[t]);
  }
  _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) {
    float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0[t], acc1[t])));
    for (int64_t j = k; j < cols; ++j) sum += ScalarWeight(dtype, row, j) * x[t * stride + j];
    y[t * y_stride] = sum;
  }
}

void FloatRows(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
               int64_t row_end) {
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
    const int64_t r1 = std::min(row_end, r0 + kRowBlock);
    int64_t t = 0;
    for (; t + kTokenTile <= n_tokens; t += kTokenTile)
      for (int64_t r = r0; r < r1; ++r)
        FloatRowTile<kTokenTile>(w.dtype, w.row(r), w.cols, x + t * w.cols, w.cols, y + t * w.rows + r, w.rows);
    for (; t < n_tokens; ++t)
      for (int64_t r = r0; r < r1; ++r)
        FloatRowTile<1>(w.dtype, w.row(r), w.cols, x + t * w.cols, w.cols, y + t * w.rows + r, w.rows);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace facet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace facet {

HWY_EXPORT(FloatRows);

void matmul_rows_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                       int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(FloatRows)(w, x, n_tokens, y, row_begin, row_end);
}

}  // namespace facet
#endif  // HWY_ONCE
