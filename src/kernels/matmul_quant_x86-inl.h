// x86 byte-product kernels of matmul() for quantized weights, included by
// matmul_quant_simd.cpp inside HWY_NAMESPACE for the AVX2, AVX3 and AVX3_DL passes only
// (no include guard: each target pass compiles it again in its own namespace).
//
// Inner step, per block of 32 weights and one token: the weights as bytes meet the token's
// 8-bit activations in one unsigned-by-signed multiply-add. vpmaddubsw saturates its int16
// pair sums, so the unsigned operand is always a weight magnitude (|w| ≤ 128 for Q8_0,
// |q - 32| ≤ 32 for Q6_K, a 4-bit nibble for Q4_0 and Q4_K) and the activation (|x| ≤ 127)
// carries the sign: a pair sums to at most 2 * 128 * 127 = 32512 < 32767.
// Signed weights use the sign trick: |w| * (x * sign(w)) = w * x.
// The int16 pairs become int32 through vpmaddwd with ones (with Q6_K's two int8 sub-block
// scales instead of ones), or in one vpdpbusd where AVX-512 VNNI is present.
//
// One templated tile kernel computes R rows x T tokens. Every (row, token) accumulator sees
// the same sequence of operations whatever R and T are, so decode (T = 1) and prefill
// (T = 4) give bit-identical results for a token.

// 16 bytes of 4-bit pairs as 32 nibbles: bytes 0-15 the low nibbles, 16-31 the high ones
// (the Q4_0 element order).
HWY_INLINE __m256i Nibbles32(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

HWY_INLINE __m256i Load32(const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

HWY_INLINE float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Σ over groups of 4 bytes of a[i] * s[i] (a unsigned, s signed) into 8 int32 lanes.
HWY_INLINE __m256i DotBytes(__m256i a, __m256i s) {
#if HWY_TARGET == HWY_AVX3_DL
  // AVX-512 VNNI (Highway checks for it before picking AVX3_DL). Written as EVEX assembly:
  // the intrinsic would be VEX-encoded here (AVX-VNNI, which Highway's AVX3_DL target string
  // enables), and CPUs such as Ice Lake and Zen 4 have only the EVEX form.
  __m256i acc = _mm256_setzero_si256();
  asm("%{evex%} vpdpbusd %[s], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [s] "v"(s));
  return acc;
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, s), _mm256_set1_epi16(1));
#endif
}

// The f16 scales `d` of `count` (≤ 8) consecutive blocks as f32 lanes, zeros after.
template <class Block>
HWY_INLINE __m256 GroupScales(const Block* b, int count, const float* f16) {
  if (count == 8)
    return _mm256_setr_ps(f16[b[0].d], f16[b[1].d], f16[b[2].d], f16[b[3].d], f16[b[4].d], f16[b[5].d], f16[b[6].d],
                          f16[b[7].d]);
  alignas(32) float d[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < count; ++j) d[j] = f16[b[j].d];
  return _mm256_load_ps(d);
}

// Per weight type: blocks of 32 are taken in groups of up to 8 (a Q4_K/Q6_K super-block is
// exactly 8; Q8_0/Q4_0 rows may end in a shorter group). Start() decodes a group's scales.
//   scale:      lane j is the f32 scale of block j's integer dot product.
//   kSigned:    Bytes() are signed weights (sign trick); else unsigned weights as they are.
//   kSubScales: Multipliers() gives int16 scales for the pair sums (Q6_K's 16-element scales).
//   kOffsets:   the row dot loses Σ_j offset[j] * (scale_x_j * Σ q_x over block j): Q4_K's
//               dmin * m, and Q4_0's 8 d (Q4_0 multiplies its unsigned nibbles and moves the
//               -8 here, which is cheaper than the sign trick and frees registers).
struct RowQ8_0 {
  static constexpr bool kSigned = true, kSubScales = false, kOffsets = false;
  const BlockQ8_0* blocks;
  __m256 scale, offset;
  HWY_INLINE void Start(int64_t g, int count, const float* f16) { scale = GroupScales(blocks + 8 * g, count, f16); }
  HWY_INLINE __m256i Bytes(int64_t g, int j) const { return Load32(blocks[8 * g + j].qs); }
  HWY_INLINE __m256i Multipliers(int64_t, int) const { return _mm256_setzero_si256(); }
};

struct RowQ4_0 {
  static constexpr bool kSigned = false, kSubScales = false, kOffsets = true;
  const BlockQ4_0* blocks;
  __m256 scale, offset;
  HWY_INLINE void Start(int64_t g, int count, const float* f16) {
    scale = GroupScales(blocks + 8 * g, count, f16);
    offset = _mm256_mul_ps(scale, _mm256_set1_ps(8.0f));
  }
  HWY_INLINE __m256i Bytes(int64_t g, int j) const {
    // Low nibbles in bytes 0-15, high ones in 16-31: the Q4_0 element order.
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[8 * g + j].qs));
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
  }
  HWY_INLINE __m256i Multipliers(int64_t, int) const { return _mm256_setzero_si256(); }
};

// Block j of a super-block: the low (j even) or high (j odd) nibbles of qs[32 (j / 2) ...].
struct RowQ4_K {
  static constexpr bool kSigned = false, kSubScales = false, kOffsets = true;
  const BlockQ4_K* blocks;
  __m256 scale, offset;
  HWY_INLINE void Start(int64_t g, int, const float* f16) {
    const BlockQ4_K& blk = blocks[g];
    // The 6-bit scales and mins of the 8 sub-blocks (q4_k_scale_min), widened to int32 lanes
    // in registers: building them in memory and reloading them as a vector would stall on
    // store forwarding once per super-block.
    uint32_t u[3];
    std::memcpy(u, blk.scales, 12);
    const __m128i sc_lo = _mm_and_si128(_mm_cvtsi32_si128(static_cast<int>(u[0])), _mm_set1_epi8(63));
    const __m128i m_lo = _mm_and_si128(_mm_cvtsi32_si128(static_cast<int>(u[1])), _mm_set1_epi8(63));
    const uint32_t top0 = (u[0] >> 6) & 0x03030303u, top1 = (u[1] >> 6) & 0x03030303u;
    const __m128i sc_hi = _mm_cvtsi32_si128(static_cast<int>((u[2] & 0x0F0F0F0Fu) | (top0 << 4)));
    const __m128i m_hi = _mm_cvtsi32_si128(static_cast<int>(((u[2] >> 4) & 0x0F0F0F0Fu) | (top1 << 4)));
    const __m256 sc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpacklo_epi32(sc_lo, sc_hi)));
    const __m256 m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_unpacklo_epi32(m_lo, m_hi)));
    scale = _mm256_mul_ps(_mm256_set1_ps(f16[blk.d]), sc);
    offset = _mm256_mul_ps(_mm256_set1_ps(f16[blk.dmin]), m);
  }
  HWY_INLINE __m256i Bytes(int64_t g, int j) const {
    const __m256i v = Load32(blocks[g].qs + 32 * (j / 2));
    const __m256i m = _mm256_set1_epi8(0x0F);
    return (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m) : _mm256_and_si256(v, m);
  }
  HWY_INLINE __m256i Multipliers(int64_t, int) const { return _mm256_setzero_si256(); }
};

// Block j = 4 half + k of a super-block: elements 128 half + 32 k + l take a nibble of
// ql[64 half + 32 (k % 2) + l] (low for k < 2) and bits 2k, 2k+1 of qh[32 half + l]; its two
// 16-element sub-blocks have scales[2j] and scales[2j + 1].
struct RowQ6_K {
  static constexpr bool kSigned = true, kSubScales = true, kOffsets = false;
  const BlockQ6_K* blocks;
  __m256 scale, offset;
  HWY_INLINE void Start(int64_t g, int, const float* f16) { scale = _mm256_set1_ps(f16[blocks[g].d]); }
  HWY_INLINE __m256i Bytes(int64_t g, int j) const {
    const BlockQ6_K& blk = blocks[g];
    const int half = j / 4, k = j % 4;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i l = Load32(blk.ql + 64 * half + 32 * (k % 2));
    const __m256i low = k < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
    const __m256i h = Load32(blk.qh + 32 * half);
    const __m256i high = _mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * k)), m2);
    return _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(high, 4)), _mm256_set1_epi8(32));
  }
  HWY_INLINE __m256i Multipliers(int64_t g, int j) const {
    const int8_t* sc = blocks[g].scales + 2 * j;
    return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
  }
};

// The first `count` of 8 floats at p (zeros after): a group's activation scales or sums.
HWY_INLINE __m256 LoadGroup(const float* p, int count) {
  if (count == 8) return _mm256_loadu_ps(p);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes));
}

// y[t * y_stride + r] for R rows starting at `row0` and T tokens starting at t0.
template <class Row, int R, int T>
HWY_INLINE void TileX86(const WeightMatrix& w, int64_t row0, const QuantizedActivations& x, int64_t t0, float* y,
                        int64_t y_stride) {
  const float* f16 = f16_table();
  const int64_t n_blocks = w.cols / 32, n_groups = (n_blocks + 7) / 8;
  Row rows[R];
  for (int r = 0; r < R; ++r) rows[r].blocks = reinterpret_cast<decltype(rows[r].blocks)>(w.row(row0 + r));
  const int8_t* xq[T];
  const float* xs[T];
  const float* xsum[T];
  __m256 acc[R][T];
  for (int t = 0; t < T; ++t) {
    xq[t] = x.token_q(t0 + t);
    xs[t] = x.token_scale(t0 + t);
    xsum[t] = x.token_sum(t0 + t);
    for (int r = 0; r < R; ++r) acc[r][t] = _mm256_setzero_ps();
  }
  for (int64_t g = 0; g < n_groups; ++g) {
    const int count = static_cast<int>(std::min<int64_t>(8, n_blocks - 8 * g));
    for (int r = 0; r < R; ++r) rows[r].Start(g, count, f16);
    // Weight scale x activation scale of every block, read back with broadcast loads.
    alignas(32) float scales[R][T][8];
    for (int t = 0; t < T; ++t) {
      const __m256 sx = LoadGroup(xs[t] + 8 * g, count);
      for (int r = 0; r < R; ++r) _mm256_store_ps(scales[r][t], _mm256_mul_ps(rows[r].scale, sx));
    }
    // Block j of the group. Whole groups (every Q4_K/Q6_K super-block; all but a row's last
    // group otherwise) are unrolled with j a constant: no loop counter or parity branch, and
    // the two nibble halves of Q4_K share one load. Decode of Q4_K ran 1.5x faster this way.
    auto blocks = [&](auto n) {  // n: the int count, or the constant 8
      _Pragma("GCC unroll 8") for (int j = 0; j < n; ++j) {
        const int64_t b = 8 * g + j;
        __m256i wb[R], wa[R], mul[R];
        for (int r = 0; r < R; ++r) {
          wb[r] = rows[r].Bytes(g, j);
          if constexpr (Row::kSigned) wa[r] = _mm256_sign_epi8(wb[r], wb[r]);  // |w|
          if constexpr (Row::kSubScales) mul[r] = rows[r].Multipliers(g, j);
        }
        for (int t = 0; t < T; ++t) {
          const __m256i xv = Load32(xq[t] + 32 * b);
          for (int r = 0; r < R; ++r) {
            __m256i dot;
            if constexpr (Row::kSubScales) {
              dot = _mm256_madd_epi16(_mm256_maddubs_epi16(wa[r], _mm256_sign_epi8(xv, wb[r])), mul[r]);
            } else if constexpr (Row::kSigned) {
              dot = DotBytes(wa[r], _mm256_sign_epi8(xv, wb[r]));
            } else {
              dot = DotBytes(wb[r], xv);
            }
            acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_broadcast_ss(&scales[r][t][j]), acc[r][t]);
          }
        }
      }
    };
    if (count == 8) blocks(std::integral_constant<int, 8>{});
    else blocks(count);
    if constexpr (Row::kOffsets) {
      for (int t = 0; t < T; ++t) {
        const __m256 sums = LoadGroup(xsum[t] + 8 * g, count);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fnmadd_ps(rows[r].offset, sums, acc[r][t]);
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) y[t * y_stride + r] = HorizontalSum(acc[r][t]);
}

// Rows [row_begin, row_end) for every token. Decode streams the rows one at a time; prefill
// takes blocks of 16 rows (their weights stay in L1) and sweeps tiles of 2 rows x 4 tokens over
// them, so each weight block is decoded once per 4 tokens and each activation block loaded once
// per 2 rows.
template <class Row>
void QuantRowsX86(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                  int64_t row_end) {
  // Decode takes one row at a time. Two rows at once give two FMA chains, which is faster
  // while the weights sit in cache, but from memory the weights then arrive as two interleaved
  // streams, and on Zen 3 that was slower: 9% less time for a whole Q4_K_M generation with one.
  constexpr int kTileRows = 2, kTileTokens = 4;
  constexpr int64_t kRowBlock = 16;
  const int64_t n_tokens = x.n_tokens, stride = w.rows;
  auto decode_token = [&](int64_t t, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) TileX86<Row, 1, 1>(w, r, x, t, y + t * stride + r, stride);
  };
  if (n_tokens < kTileTokens) {
    for (int64_t t = 0; t < n_tokens; ++t) decode_token(t, row_begin, row_end);
    return;
  }
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock) {
    const int64_t r1 = std::min(row_end, r0 + kRowBlock);
    int64_t t = 0;
    for (; t + kTileTokens <= n_tokens; t += kTileTokens) {
      int64_t r = r0;
      for (; r + kTileRows <= r1; r += kTileRows)
        TileX86<Row, kTileRows, kTileTokens>(w, r, x, t, y + t * stride + r, stride);
      for (; r < r1; ++r) TileX86<Row, 1, kTileTokens>(w, r, x, t, y + t * stride + r, stride);
    }
    for (; t < n_tokens; ++t) decode_token(t, r0, r1);
  }
}

// All four types through the byte kernels; false for other weight types.
HWY_INLINE bool QuantRowsBytes(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                               int64_t row_end) {
  switch (w.dtype) {
    case DType::Q8_0: QuantRowsX86<RowQ8_0>(w, x, y, row_begin, row_end); return true;
    case DType::Q4_0: QuantRowsX86<RowQ4_0>(w, x, y, row_begin, row_end); return true;
    case DType::Q4_K: QuantRowsX86<RowQ4_K>(w, x, y, row_begin, row_end); return true;
    case DType::Q6_K: QuantRowsX86<RowQ6_K>(w, x, y, row_begin, row_end); return true;
    default: return false;
  }
}
