// Repacking 16 weight rows for the VNNI prefill tile (and the AMX tiles), included by
// matmul_quant_vnni512-inl.h for the AVX3_DL target only. No include guard: it belongs to that
// one target pass.
//
// The general repack takes one row at a time and scatters each block's 8 four-byte steps 16
// lanes apart: about 10 cycles a row and block, which a 512-token prompt hardly notices but a
// 2-8-token pass (speculative decoding's verification) pays in full. For whole groups of 16
// Q4_0, Q8_0 or Q4_K rows the blocks are instead loaded 4 (Q4_0) or 2 (Q8_0, Q4_K) rows to a
// vector and transposed in registers: 8 or 24 permutes for 16 rows, and the next 16 rows are prefetched
// meanwhile, since a few-token pass is bound by memory. Both give the same bytes (the tests
// compare every kernel that reads them against decode, bit for bit).

// 16 rows repacked for the prefill kernel: q is [block][step 0..7][row 0..15] of 4 unsigned
// weight bytes each, ws and wo are [block][row]. Rows past the group's end are zeros.
struct VnniPackedRows {
  std::vector<int32_t> q;
  std::vector<float> ws, wo;
  std::vector<int32_t> sc;  // Q6_K: [block][half 0, 1][row] int8 scales
};

// Any type and row count: one row at a time, each block's 8 steps scattered 16 lanes apart.
template <DType kType>
void VnniRepackRows(const WeightMatrix& w, int64_t row0, int n_rows, VnniPackedRows& p) {
  using T = VnniType<kType>;
  const int64_t n_blocks = w.cols / 32, n_groups = (n_blocks + 7) / 8;
  const float* f16 = f16_table();
  // Every entry of a row is written below, so only a group of fewer than 16 rows needs its
  // other rows zeroed (zeroing every time cost 2-3% of an E2B prompt).
  auto size = [&](auto& v, size_t n) {
    if (n_rows < 16) v.assign(n, 0);
    else v.resize(n);
  };
  size(p.q, static_cast<size_t>(n_blocks * 128));
  size(p.ws, static_cast<size_t>(n_blocks * 16));
  size(p.wo, T::kMin ? static_cast<size_t>(n_blocks * 16) : 0);
  size(p.sc, T::kSubScales ? static_cast<size_t>(n_blocks * 32) : 0);
  const __m256i steps = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
  alignas(32) float scales[8], mins[8];
  for (int r = 0; r < n_rows; ++r) {
    const auto* blocks = reinterpret_cast<const typename T::Block*>(w.row(row0 + r));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int count = static_cast<int>(std::min<int64_t>(8, n_blocks - 8 * g));
      __m256 ws, wo = _mm256_setzero_ps();
      VnniScales(blocks, g, count, f16, ws, wo);
      _mm256_store_ps(scales, ws);
      _mm256_store_ps(mins, wo);
      for (int j = 0; j < count; ++j) {
        const int64_t b = 8 * g + j;
        // The 8 steps of row r go 16 lanes apart: one scatter, not 8 stores of extracted lanes.
        _mm256_i32scatter_epi32(p.q.data() + b * 128 + r, steps, VnniBytes(blocks, g, j), 4);
        p.ws[static_cast<size_t>(b * 16 + r)] = scales[j];
        if constexpr (T::kMin) p.wo[static_cast<size_t>(b * 16 + r)] = mins[j];
        if constexpr (T::kSubScales)
          for (int half = 0; half < 2; ++half)
            p.sc[static_cast<size_t>((b * 2 + half) * 16 + r)] = blocks[g].scales[2 * j + half];
      }
    }
  }
}


// Lane l of a two-table permute (vpermt2d) that, from two vectors of rows laid end to end (each
// `row_dwords` dwords of one row, `rows_per_vec` rows a vector), takes dword `first + l /
// n_rows` of row `l % n_rows`, n_rows = 16 / steps_per_vec rows.
inline __m512i TransposeIndex(int row_dwords, int n_rows, int first) {
  alignas(64) int32_t idx[16];
  for (int l = 0; l < 16; ++l) idx[l] = row_dwords * (l % n_rows) + first + l / n_rows;
  return _mm512_load_si512(idx);
}

// Block b of each of the next 16 rows, asked for while block b of the current 16 is taken:
// the next repack then finds its blocks in L2 in the order it reads them (a row-by-row order
// left the later rows' first blocks still in flight). Blocks smaller than a cache line ask
// only every few blocks, in steps under 64 bytes so that no line is missed (a request per row
// and 18-byte Q4_0 block was a tenth of a Q4_0 repack on Zen 5).
template <class Block>
HWY_INLINE void PrefetchNextRows(const uint8_t* next, size_t row_bytes, int64_t b) {
  constexpr int64_t kEvery = sizeof(Block) < 64 ? 64 / static_cast<int64_t>(sizeof(Block)) : 1;
  if (b % kEvery != 0) return;
  for (int r = 0; r < 16; ++r)
    for (size_t at = 0; at < sizeof(Block); at += 64) _mm_prefetch(next + r * row_bytes + b * sizeof(Block) + at, _MM_HINT_T1);
}

// Scales of 16 rows, [block][row]. Scalar copies into a [block][row] table, converted 16 at a
// time: a 16-lane gather a block (vpgatherdd) was quick on the Intel Xeon but about 30 cycles on
// Zen 5, where it took 45% of a Q4_0 repack (over a quarter of a 5-token pass).
template <class Block>
HWY_INLINE void RepackScales16(const uint8_t* base, size_t row_bytes, int64_t n_blocks, float* ws) {
  alignas(32) uint16_t d[8][16];
  for (int64_t b0 = 0; b0 < n_blocks; b0 += 8) {
    const int count = static_cast<int>(std::min<int64_t>(8, n_blocks - b0));
    for (int r = 0; r < 16; ++r) {
      const uint8_t* at = base + r * row_bytes + b0 * sizeof(Block) + offsetof(Block, d);
      for (int j = 0; j < count; ++j) std::memcpy(&d[j][r], at + j * sizeof(Block), sizeof(uint16_t));
    }
    for (int j = 0; j < count; ++j)
      _mm512_storeu_ps(ws + (b0 + j) * 16, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d[j]))));
  }
}

// Q4_0: 16 bytes of nibbles a row and block, i.e. 4 dwords; dword s holds the low nibbles of
// step s and the high nibbles of step s + 4.
HWY_INLINE void RepackQ4_0x16(const uint8_t* base, size_t row_bytes, int64_t n_blocks, int32_t* q) {
  const __m512i lo01 = TransposeIndex(4, 8, 0), lo23 = TransposeIndex(4, 8, 2);
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < n_blocks; ++b) {
    PrefetchNextRows<BlockQ4_0>(base + 16 * row_bytes, row_bytes, b);
    const uint8_t* at = base + b * sizeof(BlockQ4_0) + offsetof(BlockQ4_0, qs);
    __m512i z[4];  // rows 4k..4k+3, one per 128-bit lane
    for (int k = 0; k < 4; ++k) {
      const uint8_t* r = at + 4 * k * row_bytes;
      __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r)));
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + row_bytes)), 1);
      v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 2 * row_bytes)), 2);
      z[k] = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 3 * row_bytes)), 3);
    }
    // Rows 0-7 and 8-15, dwords (0, 1) and (2, 3): lanes 0-7 the first dword, 8-15 the second.
    const __m512i a01 = _mm512_permutex2var_epi32(z[0], lo01, z[1]), a23 = _mm512_permutex2var_epi32(z[0], lo23, z[1]);
    const __m512i b01 = _mm512_permutex2var_epi32(z[2], lo01, z[3]), b23 = _mm512_permutex2var_epi32(z[2], lo23, z[3]);
    const __m512i d[4] = {_mm512_shuffle_i64x2(a01, b01, 0x44), _mm512_shuffle_i64x2(a01, b01, 0xEE),
                          _mm512_shuffle_i64x2(a23, b23, 0x44), _mm512_shuffle_i64x2(a23, b23, 0xEE)};
    int32_t* out = q + b * 128;
    for (int s = 0; s < 4; ++s) {
      _mm512_storeu_si512(out + 16 * s, _mm512_and_si512(d[s], nib));
      _mm512_storeu_si512(out + 16 * (s + 4), _mm512_and_si512(_mm512_srli_epi32(d[s], 4), nib));
    }
  }
}

// 16 rows of 8 dwords (32 bytes at `at + r * row_bytes`) transposed: lane r of d[s] is dword s
// of row r. 2 rows a vector, then three rounds of permutes (rows 4 at a time, 8, 16).
struct Transpose16x8 {
  __m512i quad_lo, quad_hi, pair[2];
  Transpose16x8() {
    // Rows 4m..4m+3 from two vectors of 2 rows: lanes 4s + j = dword s (or 4 + s) of row 4m + j.
    quad_lo = TransposeIndex(8, 4, 0), quad_hi = TransposeIndex(8, 4, 4);
    // Rows 8h..8h+7 from two quads: lanes 8s + j = dword (2p + s) of row j, the quads' lanes
    // 4s' + j' being dword s' of their row j'.
    alignas(64) int32_t idx[2][16];
    for (int pr = 0; pr < 2; ++pr)
      for (int l = 0; l < 16; ++l) idx[pr][l] = (l % 8 < 4 ? 0 : 16) + 4 * (2 * pr + l / 8) + l % 4;
    pair[0] = _mm512_load_si512(idx[0]), pair[1] = _mm512_load_si512(idx[1]);
  }
  HWY_INLINE void operator()(const uint8_t* at, size_t row_bytes, __m512i d[8]) const {
    __m512i lo[4], hi[4];  // per quad of rows: dwords 0-3 and 4-7
    for (int m = 0; m < 4; ++m) {
      __m512i z[2];
      for (int k = 0; k < 2; ++k) {
        const uint8_t* r = at + (4 * m + 2 * k) * row_bytes;
        z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r))),
                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + row_bytes)), 1);
      }
      lo[m] = _mm512_permutex2var_epi32(z[0], quad_lo, z[1]);
      hi[m] = _mm512_permutex2var_epi32(z[0], quad_hi, z[1]);
    }
    // Dwords (0, 1), (2, 3) from lo, (4, 5), (6, 7) from hi; rows 0-7 and 8-15, then joined.
    const __m512i* src[2] = {lo, hi};
    for (int part = 0; part < 2; ++part)
      for (int pr = 0; pr < 2; ++pr) {
        const __m512i r07 = _mm512_permutex2var_epi32(src[part][0], pair[pr], src[part][1]);
        const __m512i r8f = _mm512_permutex2var_epi32(src[part][2], pair[pr], src[part][3]);
        const int s = 4 * part + 2 * pr;
        d[s] = _mm512_shuffle_i64x2(r07, r8f, 0x44);
        d[s + 1] = _mm512_shuffle_i64x2(r07, r8f, 0xEE);
      }
  }
};

// Q8_0: 32 signed bytes a row and block, 8 dwords, one per step (stored + 128).
HWY_INLINE void RepackQ8_0x16(const uint8_t* base, size_t row_bytes, int64_t n_blocks, int32_t* q) {
  static const Transpose16x8 transpose;
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < n_blocks; ++b) {
    PrefetchNextRows<BlockQ8_0>(base + 16 * row_bytes, row_bytes, b);
    __m512i d[8];
    transpose(base + b * sizeof(BlockQ8_0) + offsetof(BlockQ8_0, qs), row_bytes, d);
    for (int s = 0; s < 8; ++s) _mm512_storeu_si512(q + b * 128 + 16 * s, _mm512_xor_si512(d[s], sign));
  }
}

// Q4_K: blocks 2k and 2k + 1 of a super-block are the low and high nibbles of qs[32k, 32k + 32),
// 8 dwords; the scales and mins come from each row's 12 packed bytes, 8 blocks at a time.
HWY_INLINE void RepackQ4_Kx16(const uint8_t* base, size_t row_bytes, int64_t n_groups, VnniPackedRows& p) {
  static const Transpose16x8 transpose;
  const float* f16 = f16_table();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  alignas(32) float scales[8], mins[8];
  for (int64_t g = 0; g < n_groups; ++g) {
    PrefetchNextRows<BlockQ4_K>(base + 16 * row_bytes, row_bytes, g);
    const uint8_t* qs = base + g * sizeof(BlockQ4_K) + offsetof(BlockQ4_K, qs);
    for (int k = 0; k < 4; ++k) {
      __m512i d[8];
      transpose(qs + 32 * k, row_bytes, d);
      int32_t* even = p.q.data() + (8 * g + 2 * k) * 128;
      for (int s = 0; s < 8; ++s) {
        _mm512_storeu_si512(even + 16 * s, _mm512_and_si512(d[s], nib));
        _mm512_storeu_si512(even + 128 + 16 * s, _mm512_and_si512(_mm512_srli_epi32(d[s], 4), nib));
      }
    }
    for (int r = 0; r < 16; ++r) {
      RowQ4_K row{reinterpret_cast<const BlockQ4_K*>(base + r * row_bytes), {}, {}};
      row.Start(g, 8, f16);
      _mm256_store_ps(scales, row.scale);
      _mm256_store_ps(mins, row.offset);
      for (int j = 0; j < 8; ++j) {
        p.ws[static_cast<size_t>((8 * g + j) * 16 + r)] = scales[j];
        p.wo[static_cast<size_t>((8 * g + j) * 16 + r)] = mins[j];
      }
    }
  }
}

// VnniRepackRows' result, by the register transposes where they apply.
template <DType kType>
void VnniRepack(const WeightMatrix& w, int64_t row0, int n_rows, VnniPackedRows& p) {
  if constexpr (kType == DType::Q4_0 || kType == DType::Q8_0 || kType == DType::Q4_K) {
    if (n_rows == 16) {
      using Block = typename VnniType<kType>::Block;
      const int64_t n_blocks = w.cols / 32;
      const size_t row_bytes = dtype_row_bytes(w.dtype, w.cols);
      const auto* base = reinterpret_cast<const uint8_t*>(w.row(row0));
      p.q.resize(static_cast<size_t>(n_blocks * 128));
      p.ws.resize(static_cast<size_t>(n_blocks * 16));
      if constexpr (kType == DType::Q4_K) {
        p.wo.resize(static_cast<size_t>(n_blocks * 16));
        RepackQ4_Kx16(base, row_bytes, n_blocks / 8, p);
      } else {
        if constexpr (kType == DType::Q4_0) RepackQ4_0x16(base, row_bytes, n_blocks, p.q.data());
        else RepackQ8_0x16(base, row_bytes, n_blocks, p.q.data());
        RepackScales16<Block>(base, row_bytes, n_blocks, p.ws.data());
      }
      return;
    }
  }
  VnniRepackRows<kType>(w, row0, n_rows, p);
}
