// AVX2 prefill (several tokens) of Q4_0 and Q8_0 weights with byte products, included by
// matmul_quant_simd.cpp inside HWY_NAMESPACE for the AVX2 pass only (no include guard).
//
// On AVX2 decode of these types runs the int16 kernel (DotBlocks32), which is the faster one
// for a single token. Prefill wants bytes: each weight block is read and unpacked once for a
// tile of rows x tokens, and the int8 activations are half the int16 ones' cache traffic.
// A token's logits must not depend on whether it was decoded alone or in a batch, so this
// kernel reproduces DotBlocks32's arithmetic exactly:
//  - int32 lane l of a block's dot product holds elements 2l, 2l+1, 16+2l, 17+2l (what
//    vpmaddwd over two 16-lane halves gives). Here both operands are in the "paired" byte
//    order [x0 x1 x16 x17 x2 x3 x18 x19 ...] (QuantizedActivations::q_paired, and PairedBytes
//    for the weights), so vpmaddubsw + vpmaddwd(ones) sums exactly those 4 elements per lane;
//    integer sums are exact, so the lane values are identical.
//  - per block, acc = fma(float(lane sums), d_w * d_x, acc) with the same f32 scale product,
//    and the same final SumOfLanes.
// Signed weights use the sign trick (|w| * (x * sign(w)) = w * x); |w| ≤ 128 and |x| ≤ 127
// keep vpmaddubsw's int16 pair sums below 32767.

// 32 bytes (two 16-byte halves: elements 0-15 and 16-31) in the paired order.
HWY_INLINE __m256i PairHalves(__m128i lo, __m128i hi) {
  return _mm256_set_m128i(_mm_unpackhi_epi16(lo, hi), _mm_unpacklo_epi16(lo, hi));
}

HWY_INLINE __m256i PairedBytes(const BlockQ4_0& b) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i m = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  return PairHalves(_mm_sub_epi8(_mm_and_si128(v, m), eight),
                    _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), eight));
}

HWY_INLINE __m256i PairedBytes(const BlockQ8_0& b) {
  return PairHalves(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)),
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16)));
}

// A block of rows unpacked once for every token tile of a prefill: weights as signed bytes in
// the paired order, and their f32 block scales (padded with zeros to whole groups of 8).
struct PairedRowBlock {
  std::vector<int8_t> q;     // [rows][cols]
  std::vector<float> scale;  // [rows][blocks rounded up to 8]
  int64_t cols = 0, scale_stride = 0;
  const int8_t* row_q(int r) const { return q.data() + r * cols; }
  const float* row_scale(int r) const { return scale.data() + r * scale_stride; }
};

template <class Block>
void UnpackPaired(const WeightMatrix& w, int64_t r0, int64_t count, PairedRowBlock& u) {
  const float* f16 = f16_table();
  const int64_t n_blocks = w.cols / 32;
  u.cols = w.cols;
  u.scale_stride = (n_blocks + 7) / 8 * 8;
  u.q.resize(static_cast<size_t>(count * w.cols));
  u.scale.assign(static_cast<size_t>(count * u.scale_stride), 0.0f);
  for (int64_t r = 0; r < count; ++r) {
    const Block* blocks = reinterpret_cast<const Block*>(w.row(r0 + r));
    int8_t* q = u.q.data() + r * w.cols;
    float* scale = u.scale.data() + r * u.scale_stride;
    for (int64_t b = 0; b < n_blocks; ++b) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), PairedBytes(blocks[b]));
      scale[b] = f16[blocks[b].d];
    }
  }
}

// y[t * y_stride + r] for R rows (from `first` in the unpacked block) and T tokens from t0.
template <int R, int T>
HWY_INLINE void PairedTile(const PairedRowBlock& u, int first, const QuantizedActivations& x, int64_t t0, float* y,
                           int64_t y_stride) {
  const int64_t n_blocks = x.cols / 32, n_groups = (n_blocks + 7) / 8;
  const int8_t* wq[R];
  const float* ws[R];
  for (int r = 0; r < R; ++r) {
    wq[r] = u.row_q(first + r);
    ws[r] = u.row_scale(first + r);
  }
  const int8_t* xq[T];
  const float* xs[T];
  __m256 acc[R][T];
  for (int t = 0; t < T; ++t) {
    xq[t] = x.token_q_paired(t0 + t);
    xs[t] = x.token_scale(t0 + t);
    for (int r = 0; r < R; ++r) acc[r][t] = _mm256_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t g = 0; g < n_groups; ++g) {
    const int count = static_cast<int>(std::min<int64_t>(8, n_blocks - 8 * g));
    // d_w * d_x of every block, the same f32 products DotBlocks32 forms one at a time, read
    // back with broadcast loads (no shuffle per block and token).
    alignas(32) float scales[R][T][8];
    for (int t = 0; t < T; ++t) {
      const __m256 sx = LoadGroup(xs[t] + 8 * g, count);
      for (int r = 0; r < R; ++r) _mm256_store_ps(scales[r][t], _mm256_mul_ps(_mm256_loadu_ps(ws[r] + 8 * g), sx));
    }
    for (int j = 0; j < count; ++j) {
      const int64_t b = 8 * g + j;
      __m256i wb[R], wa[R];
      for (int r = 0; r < R; ++r) {
        wb[r] = Load32(wq[r] + 32 * b);
        wa[r] = _mm256_sign_epi8(wb[r], wb[r]);
      }
      for (int t = 0; t < T; ++t) {
        const __m256i xv = Load32(xq[t] + 32 * b);
        for (int r = 0; r < R; ++r) {
          const __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[r], _mm256_sign_epi8(xv, wb[r])), ones);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_broadcast_ss(&scales[r][t][j]), acc[r][t]);
        }
      }
    }
  }
  const hn::Full256<float> df;
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) y[t * y_stride + r] = hn::GetLane(hn::SumOfLanes(df, hn::Vec256<float>{acc[r][t]}));
}

// Rows [row_begin, row_end), tokens [0, n_full) with n_full a multiple of the token tile:
// blocks of 16 rows unpacked once, then every token tile swept over them in tiles of
// 2 rows x 4 tokens (8 accumulators + 4 weight registers fit AVX2's 16).
template <class Block>
void PairedRows(const WeightMatrix& w, const QuantizedActivations& x, int64_t n_full, float* y, int64_t row_begin,
                int64_t row_end) {
  constexpr int kTileRows = 2, kTileTokens = 4;
  constexpr int64_t kRowBlock = 16;
  if (n_full == 0) return;
  thread_local PairedRowBlock unpacked;
  const int64_t stride = w.rows;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
    const int count = static_cast<int>(std::min(row_end, r0 + kRowBlock) - r0);
    UnpackPaired<Block>(w, r0, count, unpacked);
    for (int64_t t = 0; t + kTileTokens <= n_full; t += kTileTokens) {
      int r = 0;
      for (; r + kTileRows <= count; r += kTileRows)
        PairedTile<kTileRows, kTileTokens>(unpacked, r, x, t, y + t * stride + r0 + r, stride);
      for (; r < count; ++r) PairedTile<1, kTileTokens>(unpacked, r, x, t, y + t * stride + r0 + r, stride);
    }
  }
}
