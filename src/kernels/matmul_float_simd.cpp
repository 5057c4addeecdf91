// Row kernels of matmul() for F32, F16, BF16 and NF4 weights, compiled per instruction set with
// Google Highway (foreach_target) and dispatched at run time. Register-blocked: each weight
// vector is converted to f32 once and used for a tile of 3 tokens, each activation vector for
// 4 rows; blocks of rows share a token tile so prefill reads the activations from L1.
#include "kernels/simd_targets.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_float_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <vector>

#if HWY_ARCH_X86
#include <immintrin.h>  // _mm_prefetch
#endif

#include "kernels/matmul_simd.h"
#include "tensor/convert.h"

HWY_BEFORE_NAMESPACE();
namespace facet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Prefill tiles are 4 rows x 3 tokens on AVX2: 12 accumulators (enough independent FMA chains
// to keep both FMA pipes busy) plus 4 weight vectors fit its 16 registers, and each loaded
// weight vector is converted once and used for 3 tokens. AVX-512 takes 6 tokens (E2B F16
// prompt processing 26 -> 43 t/s on Zen 5, alternating runs).
constexpr int kTileRows = 4;
// AVX-512 has 32 registers: 4 rows x 6 tokens (24 accumulators) halve the loads per FMA.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kTileTokens = 6;
#else
constexpr int kTileTokens = 3;
#endif
// Decode streams the weights from memory, 8 rows at a time: each row's sum is one chain of
// dependent FMAs, so 8 rows keep 8 of them in flight, and while reading its rows the tile asks
// for the next 8 rows' bytes at the same offset (prefetch into L2, 8 rows ahead). On the Zen 5,
// 2 threads, the 262144x1536 F16 head read at 46 GB/s with 1 row a time (which had measured
// faster than 4 rows before the prefetch) and 50 with 8; a 6144x1536 product in cache at 46 and
// 102 GB/s; with FACET_BENCH_SIMD=AVX2, 26 GB/s (4 rows, no prefetch) and 47 (8 rows). Not
// measured on a Zen 3. A row's result is the same whatever the count.
constexpr int kDecodeRows = 8;
constexpr int64_t kRowBlock = 16;  // rows that share one token tile (it stays in L1)

// Loads Lanes(df) weights starting at element k as f32 (F16 through F16C's vcvtph2ps on x86).
template <DType kType, class DF>
HWY_INLINE hn::Vec<DF> LoadWeights(DF df, const uint8_t* row, int64_t k) {
  if constexpr (kType == DType::F32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(row) + k);
  } else if constexpr (kType == DType::F16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row) + k));
  } else {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(row) + k));
  }
}

float ScalarWeight(DType dtype, const uint8_t* row, int64_t k) {
  float v;
  row_to_f32(dtype, row + dtype_row_bytes(dtype, k), &v, 1);
  return v;
}

// y[t * y_stride + r] = dot(row r0 + r, x_t) for R rows and T tokens (inputs `stride` floats
// apart). Each (row, token) pair has one accumulator and sees the same operations whatever R
// and T are, so a token's result doesn't depend on the batch it came in.
template <DType kType, int R, int T>
HWY_INLINE void FloatTile(const WeightMatrix& w, int64_t r0, const float* x, int64_t stride, float* y,
                          int64_t y_stride) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df)), cols = w.cols;
  const uint8_t* rows[R];
  hn::Vec<decltype(df)> acc[R][T];
  for (int r = 0; r < R; ++r) {
    rows[r] = w.row(r0 + r);
    for (int t = 0; t < T; ++t) acc[r][t] = hn::Zero(df);
  }
  const int64_t row_bytes = static_cast<int64_t>(dtype_row_bytes(kType, cols));
  int64_t k = 0;
  for (; k + N <= cols; k += N) {
#if HWY_ARCH_X86
    if constexpr (T == 1) {  // decode: the next R rows, a line at a time
      constexpr int64_t kVectorBytes = static_cast<int64_t>(hn::MaxLanes(df)) * (kType == DType::F32 ? 4 : 2);
      const int64_t at = static_cast<int64_t>(dtype_row_bytes(kType, k));
      if (at % 64 < kVectorBytes)
        for (int r = 0; r < R; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(rows[r]) + R * row_bytes + at, _MM_HINT_T1);
    }
#endif
    hn::Vec<decltype(df)> wv[R];
    for (int r = 0; r < R; ++r) wv[r] = LoadWeights<kType>(df, rows[r], k);
    for (int t = 0; t < T; ++t) {
      const auto xv = hn::LoadU(df, x + t * stride + k);
      for (int r = 0; r < R; ++r) acc[r][t] = hn::MulAdd(wv[r], xv, acc[r][t]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) {
      float sum = hn::GetLane(hn::SumOfLanes(df, acc[r][t]));
      for (int64_t j = k; j < cols; ++j) sum += ScalarWeight(kType, rows[r], j) * x[t * stride + j];
      y[t * y_stride + r] = sum;
    }
}

// y is [n_tokens, stride]: stride is w.rows, or the full matrix's rows when w is a block of them.
template <DType kType>
void FloatRowsOf(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                 int64_t row_end, int64_t stride) {
  const int64_t cols = w.cols;
  auto one_token = [&](int64_t t, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + kDecodeRows <= r1; r += kDecodeRows)
      FloatTile<kType, kDecodeRows, 1>(w, r, x + t * cols, cols, y + t * stride + r, stride);
    for (; r < r1; ++r) FloatTile<kType, 1, 1>(w, r, x + t * cols, cols, y + t * stride + r, stride);
  };
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
    const int64_t r1 = std::min(row_end, r0 + kRowBlock);
    int64_t t = 0;
    for (; t + kTileTokens <= n_tokens; t += kTileTokens) {
      int64_t r = r0;
      for (; r + kTileRows <= r1; r += kTileRows)
        FloatTile<kType, kTileRows, kTileTokens>(w, r, x + t * cols, cols, y + t * stride + r, stride);
      for (; r < r1; ++r) FloatTile<kType, 1, kTileTokens>(w, r, x + t * cols, cols, y + t * stride + r, stride);
    }
    for (; t < n_tokens; ++t) one_token(t, r0, r1);
  }
}

// Rows converted to f32 a block at a time into a scratch buffer, then multiplied as F32.
// F16/BF16 prefill: instead of converting every weight vector again for every token tile (the
// conversions, not the FMAs, bound the direct tiles); the conversion is exact and the F32
// tiles do the same operations, so results equal the direct (decode) path bit for bit.
// NF4 (QLoRA bases), decode and prefill alike: its codebook lookups have no vector load, so
// each row is decoded once per call (one path for any token count keeps a token's result
// independent of its batch).
template <DType kType>
void ConvertedRows(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
                   int64_t row_end) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  thread_local std::vector<float> scratch;
  scratch.resize(static_cast<size_t>(kRowBlock * w.cols));
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
    const int64_t count = std::min(kRowBlock, row_end - r0);
    for (int64_t r = 0; r < count; ++r) {
      float* dst = scratch.data() + r * w.cols;
      const uint8_t* src = w.row(r0 + r);
      if constexpr (kType == DType::NF4) {
        row_to_f32(kType, src, dst, w.cols);
      } else {
        int64_t k = 0;
        for (; k + N <= w.cols; k += N) hn::StoreU(LoadWeights<kType>(df, src, k), df, dst + k);
        if (k < w.cols) row_to_f32(kType, src + dtype_row_bytes(kType, k), dst + k, w.cols - k);
      }
    }
    // The converted rows as an F32 matrix whose row 0 is row r0; outputs keep y's row stride.
    const WeightMatrix block{DType::F32, reinterpret_cast<const uint8_t*>(scratch.data()), count, w.cols};
    FloatRowsOf<DType::F32>(block, x, n_tokens, y + r0, 0, count, w.rows);
  }
}

void FloatRows(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t row_begin,
               int64_t row_end) {
  const bool prefill = n_tokens >= kTileTokens;
  switch (w.dtype) {
    case DType::F32: return FloatRowsOf<DType::F32>(w, x, n_tokens, y, row_begin, row_end, w.rows);
    case DType::F16:
      if (prefill) return ConvertedRows<DType::F16>(w, x, n_tokens, y, row_begin, row_end);
      return FloatRowsOf<DType::F16>(w, x, n_tokens, y, row_begin, row_end, w.rows);
    case DType::NF4: return ConvertedRows<DType::NF4>(w, x, n_tokens, y, row_begin, row_end);
    default:
      if (prefill) return ConvertedRows<DType::BF16>(w, x, n_tokens, y, row_begin, row_end);
      return FloatRowsOf<DType::BF16>(w, x, n_tokens, y, row_begin, row_end, w.rows);
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
