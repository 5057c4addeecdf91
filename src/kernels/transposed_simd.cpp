// The transposed product dx += dy · W over a block of f32 weight rows, the inner loop of
// training's backward pass through a frozen weight (src/train/lora.cpp), compiled per
// instruction set with Google Highway and dispatched at run time.
//
// A plain loop (dx[t] += dy[t][r] * W[r] for each row) does one multiply-add per load and
// store of dx, so it runs at the speed of the cache, not of the multipliers. Here a tile of
// tokens x vectors of columns (6 x 4 with AVX-512, 4 x 2 with AVX2) stays in registers while
// every row of the block passes through it. The columns are the outer
// loop so the block's slice of those columns (rows x the tile's vectors) stays in L1 for all tokens.
//
// Each element of dx still receives its terms in row order, one fused multiply-add each,
// whatever the tile: the result does not depend on how the tokens are split over threads.
//
// The same loop gives training's weight gradients, dW += dy^T x (accumulate_outer_products):
// x's rows (one per token) are the "weight rows" and the outputs the "tokens", so dW's rows
// are written in place with no transposed copies.
#include "kernels/simd_targets.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/transposed_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"

HWY_BEFORE_NAMESPACE();
namespace facet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The tile: AVX-512's 32 registers hold 6 tokens x 4 vectors of columns (24 accumulators, 4
// weight vectors, a broadcast): 24 multiply-adds per 4 loads and 6 broadcasts; AVX2's 16 hold
// 4 x 2. Every element's terms still come in row order, so the tile changes no bit.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kTileTokens = 6, kWideColumns = 4;
#else
constexpr int kTileTokens = 4, kWideColumns = 2;
#endif

// Columns [c, c + V * lanes) of T tokens.
template <int T, int V>
HWY_INLINE void TransposedTile(const float* w, int64_t n_rows, int64_t cols, const float* dy, int64_t dy_stride,
                               int64_t dy_row_stride, float* dx, int64_t dx_stride, int64_t c) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  hn::Vec<decltype(d)> acc[T][V];
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) acc[t][v] = hn::LoadU(d, dx + t * dx_stride + c + v * N);
  for (int64_t r = 0; r < n_rows; ++r) {
    hn::Vec<decltype(d)> wv[V];
    for (int v = 0; v < V; ++v) wv[v] = hn::LoadU(d, w + r * cols + c + v * N);
    for (int t = 0; t < T; ++t) {
      const auto g = hn::Set(d, dy[t * dy_stride + r * dy_row_stride]);
      for (int v = 0; v < V; ++v) acc[t][v] = hn::MulAdd(g, wv[v], acc[t][v]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int v = 0; v < V; ++v) hn::StoreU(acc[t][v], d, dx + t * dx_stride + c + v * N);
}

template <int T>
HWY_INLINE void TransposedTokens(const float* w, int64_t n_rows, int64_t cols, const float* dy, int64_t dy_stride,
                                 int64_t dy_row_stride, float* dx, int64_t dx_stride, int64_t c0, int64_t c1) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t c = c0;
  if constexpr (kWideColumns > 2)
    for (; c + kWideColumns * N <= c1; c += kWideColumns * N)
      TransposedTile<T, kWideColumns>(w, n_rows, cols, dy, dy_stride, dy_row_stride, dx, dx_stride, c);
  for (; c + 2 * N <= c1; c += 2 * N) TransposedTile<T, 2>(w, n_rows, cols, dy, dy_stride, dy_row_stride, dx, dx_stride, c);
  for (; c + N <= c1; c += N) TransposedTile<T, 1>(w, n_rows, cols, dy, dy_stride, dy_row_stride, dx, dx_stride, c);
  for (; c < c1; ++c)  // fewer columns than a vector (std::fma: one rounding, as a lane of MulAdd)
    for (int t = 0; t < T; ++t) {
      float a = dx[t * dx_stride + c];
      for (int64_t r = 0; r < n_rows; ++r) a = std::fma(dy[t * dy_stride + r * dy_row_stride], w[r * cols + c], a);
      dx[t * dx_stride + c] = a;
    }
}

void AccumulateTransposed(const float* w, int64_t n_rows, int64_t cols, const float* dy, int64_t dy_stride,
                          int64_t dy_row_stride, int64_t n_tokens, float* dx, int64_t dx_stride) {
  constexpr int kTokens = kTileTokens;
  const hn::ScalableTag<float> d;
  // A column strip wide enough to amortise the tile loop, narrow enough that its slice of
  // the block (n_rows x strip) stays in L1 while every token tile passes over it.
  const int64_t strip = 16 * static_cast<int64_t>(hn::Lanes(d));
  for (int64_t c0 = 0; c0 < cols; c0 += strip) {
    const int64_t c1 = std::min(cols, c0 + strip);
    int64_t t = 0;
    for (; t + kTokens <= n_tokens; t += kTokens)
      TransposedTokens<kTokens>(w, n_rows, cols, dy + t * dy_stride, dy_stride, dy_row_stride, dx + t * dx_stride,
                                dx_stride, c0, c1);
    for (; t < n_tokens; ++t)
      TransposedTokens<1>(w, n_rows, cols, dy + t * dy_stride, dy_stride, dy_row_stride, dx + t * dx_stride, dx_stride,
                          c0, c1);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace facet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace facet {

HWY_EXPORT(AccumulateTransposed);

void accumulate_transposed(const float* w, int64_t n_rows, int64_t cols, const float* dy, int64_t dy_stride,
                           int64_t n_tokens, float* dx, int64_t dx_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulateTransposed)(w, n_rows, cols, dy, dy_stride, 1, n_tokens, dx, dx_stride);
}

void accumulate_outer_products(const float* x, int64_t n, int64_t in, const float* dy, int64_t out, int64_t o_begin,
                               int64_t o_end, float* dw) {
  // The transposed product with x's rows as the weight rows and the outputs as its tokens:
  // token o's value for row t is dy[t * out + o] (stride 1 between tokens, `out` between rows).
  HWY_DYNAMIC_DISPATCH(AccumulateTransposed)(x, n, in, dy + o_begin, 1, out, o_end - o_begin, dw + o_begin * in, in);
}

}  // namespace facet
#endif  // HWY_ONCE
