// Prompt (prefill) kernels of matmul() on Intel AMX int8 tiles, for Q8_0, Q4_0, Q4_K and Q6_K
// weights; included by matmul_quant_simd.cpp after matmul_quant_vnni512-inl.h, inside
// HWY_NAMESPACE for the AVX3_DL target only, and used where amx_int8_in_use() says the CPU
// and the OS allow it. No include guard: it belongs to that one target pass.
//
// Same arithmetic as the VNNI kernels (see the top of matmul_quant_vnni512-inl.h), so a
// token's result is bit for bit the decode kernel's: the tiles only compute the exact integer
// block sums I_b, and every float step after them is the VNNI prefill tile's, on 16 rows in
// the 16 lanes of a vector.
//
// One tile multiply (tdpbsud: signed bytes times unsigned bytes into int32) takes
//   A = 16 tokens x 32 activation bytes of one block (read in place, one token per row),
//   B = the block's weights for 16 rows as VnniRepack lays them out, [step 0..7][row 0..15]
//       of 4 unsigned bytes: exactly the "K/4 rows of N x 4 bytes" shape tdpbsud wants,
// and gives C = 16 tokens x 16 rows of I_b. A block at a time because every block has its own
// scales, so every multiply's result goes back to memory for its float step: tile loads and
// stores, not the multiplies, are what a block costs. Hence 2 x 2 blocking: each block loads
// two A tiles (32 tokens) and two B tiles (32 rows) for four multiplies.
// Q6_K is left to the VNNI kernel (its half blocks need a multiply each).

// Tile registers, one shape each, fixed by one configuration per thread:
//   tmm0, tmm1  A: 16 tokens x 32 bytes (tokens 0-15, 16-31 of the tile)
//   tmm2, tmm3  B: 8 x 64 bytes (rows 0-15, 16-31 of the tile)
//   tmm4-tmm7   C: 16 tokens x 16 int32, C[2 a + b] = A_a x B_b
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {32, 32, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 8, 8, 16, 16, 16, 16};
};

// The tile instructions as assembly (the assembler knows them; the compiler needs no AMX
// option). Loads and stores name memory so the compiler keeps them ordered with the stores
// that fill the buffers they read.
HWY_INLINE void AmxConfigureThread() {
  thread_local bool configured = false;
  if (configured) return;
  static const AmxTileConfig config;
  asm volatile("ldtilecfg %0" : : "m"(config));
  configured = true;
}
template <int kTile>
HWY_INLINE void AmxLoad(const void* base, int64_t stride) {
  asm volatile("tileloadd (%0,%1,1), %%tmm%c2" : : "r"(base), "r"(stride), "i"(kTile) : "memory");
}
template <int kTile>
HWY_INLINE void AmxStore(void* base) {
  asm volatile("tilestored %%tmm%c2, (%0,%1,1)" : : "r"(base), "r"(int64_t{64}), "i"(kTile) : "memory");
}
template <int kTile>
HWY_INLINE void AmxZero() {
  asm volatile("tilezero %%tmm%c0" : : "i"(kTile));
}
// C += A (signed bytes) * B (unsigned bytes).
template <int kC, int kA, int kB>
HWY_INLINE void AmxDpbsud() {
  asm volatile("tdpbsud %%tmm%c0, %%tmm%c1, %%tmm%c2" : : "i"(kB), "i"(kA), "i"(kC));
}

constexpr int kAmxTokens = 16;

// The tile kernels' types (Q6_K stays on the VNNI kernel).
template <DType kType>
constexpr bool kAmxType = !VnniType<kType>::kSubScales;

// out = [C4, C5, C6, C7] (each [token][row] int32, 1 KiB) of one block: A tiles at x0, x1
// (stride bytes between tokens), B tiles at w0, w1 (512 bytes each).
HWY_INLINE void AmxBlock2x2(const int8_t* x0, const int8_t* x1, int64_t stride, const int32_t* w0, const int32_t* w1,
                            int32_t (*out)[kAmxTokens * 16]) {
  AmxZero<4>(), AmxZero<5>(), AmxZero<6>(), AmxZero<7>();
  AmxLoad<0>(x0, stride), AmxLoad<2>(w0, 64), AmxDpbsud<4, 0, 2>();
  AmxLoad<3>(w1, 64), AmxDpbsud<5, 0, 3>();
  AmxLoad<1>(x1, stride), AmxDpbsud<6, 1, 2>(), AmxDpbsud<7, 1, 3>();
  AmxStore<4>(out[0]), AmxStore<5>(out[1]), AmxStore<6>(out[2]), AmxStore<7>(out[3]);
}

// What the float steps need of the activations, per token and block, where a vector
// instruction can broadcast it from memory: the offset kOffset * Σ x_q (Q8_0, Q4_0).
struct AmxTokenTerms {
  uint64_t version = 0;
  std::vector<int32_t> offset;  // [token][block]
};

// acc[t] (16 rows in lanes) += G_g for tokens t < n_valid of one C tile per block of group g
// (sums[j] + quadrant, [token][row]); first_token indexes the activations' per-block terms.
template <DType kType>
HWY_INLINE void AmxGroupFloat(const VnniPackedRows& p, const QuantizedActivations& x, const AmxTokenTerms& terms,
                              int64_t g, int count, int64_t first_token, int n_valid,
                              const int32_t (*sums)[4][kAmxTokens * 16], int quadrant, __m512* acc) {
  using T = VnniType<kType>;
  const int64_t per_token = x.cols / 32, b0 = 8 * g;
  __m512 ws[8], wo[8];
  for (int j = 0; j < 8; ++j) {
    ws[j] = j < count ? _mm512_loadu_ps(p.ws.data() + 16 * (b0 + j)) : _mm512_setzero_ps();
    if constexpr (T::kMin) wo[j] = j < count ? _mm512_loadu_ps(p.wo.data() + 16 * (b0 + j)) : _mm512_setzero_ps();
  }
  for (int t = 0; t < n_valid; ++t) {
    const size_t at = static_cast<size_t>((first_token + t) * per_token + b0);
    const float* xs = x.scale.data() + at;
    const float* xsum = x.scaled_sum.data() + at;
    const int32_t* off = T::kOffset != 0 ? terms.offset.data() + at : nullptr;
    // c_b of block j, as VnniPrefillTile (zero past the row's end).
    auto c = [&](int j) {
      if (j >= count) return _mm512_setzero_ps();
      __m512i s = _mm512_load_si512(sums[j][quadrant] + 16 * t);
      if constexpr (T::kOffset != 0) s = _mm512_sub_epi32(s, _mm512_set1_epi32(off[j]));
      const __m512 sw = _mm512_mul_ps(ws[j], _mm512_set1_ps(xs[j]));
      if constexpr (T::kMin)
        return _mm512_fmsub_ps(_mm512_cvtepi32_ps(s), sw, _mm512_mul_ps(wo[j], _mm512_set1_ps(xsum[j])));
      else
        return _mm512_mul_ps(_mm512_cvtepi32_ps(s), sw);
    };
    // Same tree as Tree8.
    const __m512 left = _mm512_add_ps(_mm512_add_ps(c(0), c(1)), _mm512_add_ps(c(2), c(3)));
    const __m512 right = _mm512_add_ps(_mm512_add_ps(c(4), c(5)), _mm512_add_ps(c(6), c(7)));
    acc[t] = _mm512_add_ps(acc[t], _mm512_add_ps(left, right));
  }
}

// The prefill half of VnniRows on tiles: rows [row_begin, row_end) for every token, 32 rows
// by 32 tokens at a time (a last, shorter part padded with zero rows or zero tokens).
template <DType kType>
void AmxRows(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin, int64_t row_end) {
  AmxConfigureThread();
  using T = VnniType<kType>;
  const int64_t n_blocks = w.cols / 32, n_groups = (n_blocks + 7) / 8, n_tokens = x.n_tokens, stride = w.rows;
  constexpr int kTileTokens = 2 * kAmxTokens;
  // The last, partial 32-token tile is read from a copy padded with zero tokens (a tile load
  // always reads 16 rows).
  thread_local std::vector<int8_t> tail;
  const int64_t whole = n_tokens / kTileTokens * kTileTokens;
  if (whole < n_tokens) {
    tail.assign(static_cast<size_t>(kTileTokens * w.cols), 0);
    std::memcpy(tail.data(), x.token_q(whole), static_cast<size_t>((n_tokens - whole) * w.cols));
  }
  thread_local AmxTokenTerms terms;
  if constexpr (T::kOffset != 0) {
    if (x.version == 0 || terms.version != x.version) {
      terms.version = x.version;
      terms.offset.resize(static_cast<size_t>(n_tokens * n_blocks));
      for (size_t i = 0; i < terms.offset.size(); ++i) terms.offset[i] = T::kOffset * x.qsum[i];
    }
  }
  thread_local VnniPackedRows packed[2];
  alignas(64) int32_t sums[8][4][kAmxTokens * 16];  // one group: [block][C tile][token][row]
  __m512 acc[2][2][kAmxTokens];                       // [token half][row half][token]
  for (int64_t r0 = row_begin; r0 < row_end; r0 += 32) {
    int n_rows[2];
    for (int h = 0; h < 2; ++h) {
      n_rows[h] = static_cast<int>(std::clamp<int64_t>(row_end - r0 - 16 * h, 0, 16));
      VnniRepack<kType>(w, r0 + 16 * h, n_rows[h], packed[h]);
    }
    for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
      const int8_t* xq = t < whole ? x.token_q(t) : tail.data();
      int n_valid[2];
      for (int h = 0; h < 2; ++h) n_valid[h] = static_cast<int>(std::clamp<int64_t>(n_tokens - t - 16 * h, 0, 16));
      for (auto& a : acc)
        for (auto& b : a)
          for (auto& v : b) v = _mm512_setzero_ps();
      for (int64_t g = 0; g < n_groups; ++g) {
        const int count = static_cast<int>(std::min<int64_t>(8, n_blocks - 8 * g));
        for (int j = 0; j < count; ++j) {
          const int64_t b = 8 * g + j;
          AmxBlock2x2(xq + 32 * b, xq + 16 * w.cols + 32 * b, w.cols, packed[0].q.data() + 128 * b,
                      packed[1].q.data() + 128 * b, sums[j]);
        }
        for (int th = 0; th < 2; ++th)
          for (int rh = 0; rh < 2; ++rh)
            if (n_rows[rh] > 0)
              AmxGroupFloat<kType>(packed[rh], x, terms, g, count, t + 16 * th, n_valid[th], sums, 2 * th + rh,
                                   acc[th][rh]);
      }
      for (int th = 0; th < 2; ++th)
        for (int rh = 0; rh < 2; ++rh) {
          if (n_rows[rh] == 0) continue;
          const __mmask16 rows = static_cast<__mmask16>((1u << n_rows[rh]) - 1);
          for (int k = 0; k < n_valid[th]; ++k)
            _mm512_mask_storeu_ps(y + (t + 16 * th + k) * stride + r0 + 16 * rh, rows, acc[th][rh][k]);
        }
    }
  }
}
