// AVX-512 VNNI kernels of matmul() for Q8_0, Q4_0, Q4_K and Q6_K weights, included by
// matmul_quant_simd.cpp inside HWY_NAMESPACE for the AVX3_DL target only (Ice Lake and later,
// Zen 4, Zen 5). No include guard: it belongs to that one target pass.
//
// One arithmetic, shared by decode and prefill, so a token's result never depends on the
// batch it came in (the tests compare the two bit for bit). For row r and token t:
//   I_b = Σ_{i in block b} w_q[i] * x_q[i]      exact in int32 (Q4_0's -8 and Q8_0's sign
//                                                folded in through Σ x_q, also an integer)
//   c_b = float(I_b) * (ws_b * xs_b)             Q4_K: fmsub(float(I_b), ws_b * xs_b, o_b * xsum_b)
//   G_k = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))   the 8 blocks of group k, +0 past the row's end
//   y   = (((0 + G_0) + G_1) + G_2) + ...
// ws_b is the weight block's scale (Q4_K: d * sc_b), xs_b the activation block's, o_b Q4_K's
// dmin * m_b and xsum_b = xs_b * Σ x_q. The file is compiled with -ffp-contract=off, so every
// product above is rounded on its own in both kernels.
//
// Decode (few tokens) streams a row at a time: 512-bit vpdpbusd over two blocks at once, the
// 8 block sums of a group gathered into one vector by a fixed permute-and-add tree, and the
// group's float step on 8 lanes.
//
// Prefill puts 16 rows in the 16 lanes of a vector. A group of 16 rows is first repacked so
// that 4 consecutive unsigned weight bytes of each row sit in one 32-bit lane ([block][4-byte
// step][row]); then each vpdpbusd multiplies 16 rows by 4 bytes of one token broadcast from
// memory, and a block costs one int-to-float conversion and one scale step per 16 rows, where
// a row-at-a-time tile pays them per row. Each weight vector serves a tile of 4 tokens.

// The unsigned weight bytes of vpdpbusd: Q8_0 stores w + 128, Q4_0 its nibbles; both take
// kOffset * Σ x_q back out of I_b. Q4_K's nibbles are used as they are.
template <DType kType>
struct VnniType;
// kSuper: a group of 8 blocks is one super-block of the type. kSubScales (Q6_K): each half of
// a block has its own int8 scale s, and I_b = s_lo * Σ_lo (q - 32) x + s_hi * Σ_hi (q - 32) x,
// still an exact integer (|I_b| < 2^26; its conversion to float rounds the same in both kernels).
template <>
struct VnniType<DType::Q8_0> {
  using Block = BlockQ8_0;
  static constexpr int32_t kOffset = 128;
  static constexpr bool kMin = false, kSuper = false, kSubScales = false;
};
template <>
struct VnniType<DType::Q4_0> {
  using Block = BlockQ4_0;
  static constexpr int32_t kOffset = 8;
  static constexpr bool kMin = false, kSuper = false, kSubScales = false;
};
template <>
struct VnniType<DType::Q4_K> {
  using Block = BlockQ4_K;
  static constexpr int32_t kOffset = 0;
  static constexpr bool kMin = true, kSuper = true, kSubScales = false;
};
template <>
struct VnniType<DType::Q6_K> {
  using Block = BlockQ6_K;
  static constexpr int32_t kOffset = 0;  // the -32 is taken out per half block, with its scale
  static constexpr bool kMin = false, kSuper = true, kSubScales = true;
};

// acc + Σ over groups of 4 bytes of u[i] * s[i] (u unsigned, s signed) in 16 int32 lanes:
// vpdpbusd, written as assembly because Highway's AVX3_DL target does not switch on the
// compiler's avx512vnni option (it checks the CPU for it before picking the target).
HWY_INLINE __m512i Dpbusd(__m512i acc, __m512i u, __m512i s) {
  asm("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc) : [u] "v"(u), [s] "v"(s));
  return acc;
}
// The same with s = the 4 bytes at p in every lane (an embedded broadcast from memory).
HWY_INLINE __m512i DpbusdBroadcast(__m512i acc, __m512i u, const int8_t* p) {
  asm("vpdpbusd %[s]%{1to16%}, %[u], %[acc]"
      : [acc] "+v"(acc)
      : [u] "v"(u), [s] "m"(*reinterpret_cast<const int32_t*>(p)));
  return acc;
}

// The 32 unsigned weight bytes of block j (0..7) of group g, in element order.
HWY_INLINE __m256i VnniBytes(const BlockQ8_0* blocks, int64_t g, int j) {
  return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[8 * g + j].qs)),
                          _mm256_set1_epi8(static_cast<char>(0x80)));
}
HWY_INLINE __m256i VnniBytes(const BlockQ4_0* blocks, int64_t g, int j) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[8 * g + j].qs));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}
HWY_INLINE __m256i VnniBytes(const BlockQ4_K* blocks, int64_t g, int j) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[g].qs + 32 * (j / 2)));
  const __m256i m = _mm256_set1_epi8(0x0F);
  return (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m) : _mm256_and_si256(v, m);
}

// Block j = 4 half + k of a Q6_K super-block: elements 128 half + 32 k + l take a nibble of
// ql[64 half + 32 (k % 2) + l] (low for k < 2) and bits 2k, 2k+1 of qh[32 half + l]: q in 0..63.
HWY_INLINE __m256i VnniBytes(const BlockQ6_K* blocks, int64_t g, int j) {
  const BlockQ6_K& blk = blocks[g];
  const int half = j / 4, k = j % 4;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
  const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * half + 32 * (k % 2)));
  const __m256i low = k < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * half));
  const __m256i high = _mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(2 * k)), m2);
  return _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
}

// Weight scales ws_b of the `count` blocks of group g (zeros after) and, for Q4_K, its o_b.
template <class Block>
HWY_INLINE void VnniScales(const Block* blocks, int64_t g, int count, const float* f16, __m256& ws, __m256&) {
  ws = GroupScales(blocks + 8 * g, count, f16);
}
HWY_INLINE void VnniScales(const BlockQ6_K* blocks, int64_t g, int, const float* f16, __m256& ws, __m256&) {
  ws = _mm256_set1_ps(f16[blocks[g].d]);
}
HWY_INLINE void VnniScales(const BlockQ4_K* blocks, int64_t g, int, const float* f16, __m256& ws, __m256& wo) {
  RowQ4_K row{blocks, {}, {}};
  row.Start(g, 8, f16);
  ws = row.scale;
  wo = row.offset;
}

// The first `count` of 8 int32 at p (zeros after).
HWY_INLINE __m256i LoadGroupInt(const int32_t* p, int count) {
  if (count == 8) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_maskload_epi32(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes));
}

// Lane j (0..7) = the sum of the 8 lanes of block j, from four vectors that each hold two
// blocks (lanes 0-7 block 2k, lanes 8-15 block 2k + 1). Integer adds: exact in any order.
HWY_INLINE __m256i BlockSums8(__m512i d01, __m512i d23, __m512i d45, __m512i d67) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  // Pairs of lanes: 4 lanes a block, blocks 0-3 and 4-7.
  const __m512i a = _mm512_add_epi32(_mm512_permutex2var_epi32(d01, even, d23), _mm512_permutex2var_epi32(d01, odd, d23));
  const __m512i b = _mm512_add_epi32(_mm512_permutex2var_epi32(d45, even, d67), _mm512_permutex2var_epi32(d45, odd, d67));
  // 2 lanes a block, blocks 0-7.
  const __m512i c = _mm512_add_epi32(_mm512_permutex2var_epi32(a, even, b), _mm512_permutex2var_epi32(a, odd, b));
  const __m512i split = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), c);
  return _mm256_add_epi32(_mm512_castsi512_si256(split), _mm512_extracti64x4_epi64(split, 1));
}

HWY_INLINE __m512i Pair512(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) of the 8 lanes.
HWY_INLINE float Tree8(__m256 c) {
  const __m256 h1 = _mm256_hadd_ps(c, c);   // lanes 0, 1, 4, 5: c0+c1, c2+c3, c4+c5, c6+c7
  const __m256 h2 = _mm256_hadd_ps(h1, h1);  // lanes 0, 4: the two halves
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(h2), _mm256_extractf128_ps(h2, 1)));
}

// Lane j (0..7) = the sum of the 4 lanes of block j, from two vectors that each hold four
// blocks (lanes 4k..4k+3 block k of d03, block 4 + k of d47).
HWY_INLINE __m256i BlockSums4x8(__m512i d03, __m512i d47) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i c = _mm512_add_epi32(_mm512_permutex2var_epi32(d03, even, d47), _mm512_permutex2var_epi32(d03, odd, d47));
  const __m512i split = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), c);
  return _mm256_add_epi32(_mm512_castsi512_si256(split), _mm512_extracti64x4_epi64(split, 1));
}

// The byte-index vectors of vpermt2b that pull a whole group's fields out of its bytes.
struct VnniGather {
  const float* f16 = f16_table();  // f16 bit pattern -> f32
  alignas(64) uint8_t q4_0_lo[64], q4_0_hi[64], q4_0_d[64];
  VnniGather() {
    for (int i = 0; i < 64; ++i) {
      // Q4_0 (18-byte blocks): qs of blocks 0-3 from bytes [0, 128), of blocks 4-7 from [64, 192).
      q4_0_lo[i] = static_cast<uint8_t>(18 * (i / 16) + 2 + i % 16);
      q4_0_hi[i] = static_cast<uint8_t>(18 * (4 + i / 16) + 2 + i % 16 - 64);
      q4_0_d[i] = static_cast<uint8_t>(i < 16 ? 18 * (i / 2) + i % 2 : 0);
    }
  }
};

HWY_INLINE __m512i LoadIndex(const uint8_t* p) { return _mm512_load_si512(p); }

// The activations of one token rearranged to match how decode takes each type's weights
// apart, so the weights need no shuffling per row. Q8_0: as they are. Q4_0: per 4 blocks, the
// first halves of the 4 blocks (the low nibbles' partners), then the second halves. Q4_K: per
// 256, the 32-byte blocks in the order 0 2 1 3 4 6 5 7 (low and high nibbles of qs[0:64] are
// blocks 0 and 2, 1 and 3).
template <DType kType>
void VnniDecodeLayout(const int8_t* xq, int64_t cols, int8_t* out) {
  if constexpr (kType == DType::Q4_0) {
    int64_t i = 0;
    for (; i + 128 <= cols; i += 128)
      for (int j = 0; j < 4; ++j) {
        std::memcpy(out + i + 16 * j, xq + i + 32 * j, 16);
        std::memcpy(out + i + 64 + 16 * j, xq + i + 32 * j + 16, 16);
      }
    std::memcpy(out + i, xq + i, static_cast<size_t>(cols - i));
  } else if constexpr (kType == DType::Q4_K) {
    static constexpr int kOrder[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int64_t i = 0; i + 256 <= cols; i += 256)
      for (int j = 0; j < 8; ++j) std::memcpy(out + i + 32 * j, xq + i + 32 * kOrder[j], 32);
  } else {
    std::memcpy(out, xq, static_cast<size_t>(cols));
  }
}

// Integer block sums I_b (before the offset) and weight scales of one whole group of 8 blocks
// starting at `p`; xl: the token's activations of that group in VnniDecodeLayout order.
HWY_INLINE __m256i VnniGroupSums(const BlockQ4_0* blocks, const int8_t* xl, const int32_t*, const VnniGather& gi,
                                 __m256& ws, __m256&) {
  const auto* p = reinterpret_cast<const uint8_t*>(blocks);
  const __m512i l0 = _mm512_loadu_si512(p), l1 = _mm512_loadu_si512(p + 64);
  const __m512i l2 = _mm512_maskz_loadu_epi8(0xFFFF, p + 128);  // the group's last 16 bytes
  const __m512i q03 = _mm512_permutex2var_epi8(l0, LoadIndex(gi.q4_0_lo), l1);
  const __m512i q47 = _mm512_permutex2var_epi8(l1, LoadIndex(gi.q4_0_hi), l2);
  const __m512i nib = _mm512_set1_epi8(0x0F);
  __m512i d03 = Dpbusd(_mm512_setzero_si512(), _mm512_and_si512(q03, nib), _mm512_loadu_si512(xl));
  d03 = Dpbusd(d03, _mm512_and_si512(_mm512_srli_epi16(q03, 4), nib), _mm512_loadu_si512(xl + 64));
  __m512i d47 = Dpbusd(_mm512_setzero_si512(), _mm512_and_si512(q47, nib), _mm512_loadu_si512(xl + 128));
  d47 = Dpbusd(d47, _mm512_and_si512(_mm512_srli_epi16(q47, 4), nib), _mm512_loadu_si512(xl + 192));
  ws = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi8(l0, LoadIndex(gi.q4_0_d), l1)));
  return BlockSums4x8(d03, d47);
}

// Q8_0 takes its blocks two at a time with plain loads: pulling the group apart with vpermt2b,
// as Q4_0 does, made Q8_0 decode about 1.5x slower (E2B Q8_0 generation, Zen 5).
HWY_INLINE __m256i VnniGroupSums(const BlockQ8_0* blocks, const int8_t* xl, const int32_t*, const VnniGather& gi,
                                 __m256& ws, __m256&) {
  __m512i d[4];
  for (int k = 0; k < 4; ++k)
    d[k] = Dpbusd(_mm512_setzero_si512(), Pair512(VnniBytes(blocks, 0, 2 * k), VnniBytes(blocks, 0, 2 * k + 1)),
                  _mm512_loadu_si512(xl + 64 * k));
  ws = GroupScales(blocks, 8, gi.f16);
  return BlockSums8(d[0], d[1], d[2], d[3]);
}

HWY_INLINE __m256i VnniGroupSums(const BlockQ4_K* block, const int8_t* xl, const int32_t*, const VnniGather& gi,
                                 __m256& ws, __m256& wo) {
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i q0 = _mm512_loadu_si512(block->qs), q1 = _mm512_loadu_si512(block->qs + 64);
  const __m512i d02 = Dpbusd(_mm512_setzero_si512(), _mm512_and_si512(q0, nib), _mm512_loadu_si512(xl));
  const __m512i d13 = Dpbusd(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(q0, 4), nib), _mm512_loadu_si512(xl + 64));
  const __m512i d46 = Dpbusd(_mm512_setzero_si512(), _mm512_and_si512(q1, nib), _mm512_loadu_si512(xl + 128));
  const __m512i d57 = Dpbusd(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(q1, 4), nib), _mm512_loadu_si512(xl + 192));
  RowQ4_K row{block, {}, {}};
  row.Start(0, 8, gi.f16);
  ws = row.scale;
  wo = row.offset;
  // BlockSums8 gives the blocks in the order 0 2 1 3 4 6 5 7; the same permutation restores it.
  return _mm256_permutevar8x32_epi32(BlockSums8(d02, d13, d46, d57), _mm256_setr_epi32(0, 2, 1, 3, 4, 6, 5, 7));
}

// qsum16: Σ x_q of each 16 activations of the super-block.
HWY_INLINE __m256i VnniGroupSums(const BlockQ6_K* block, const int8_t* xl, const int32_t* qsum16, const VnniGather& gi,
                                 __m256& ws, __m256&) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m512i scales = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block->scales)));
  __m512i d[4];
  for (int half = 0; half < 2; ++half) {
    const __m512i a = _mm512_loadu_si512(block->ql + 64 * half);
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block->qh + 32 * half));
    const __m512i hh = Pair512(h, _mm256_srli_epi16(h, 2));  // bits 0-1 and 4-5: elements +0/+32, +64/+96
    const __m512i q01 = _mm512_or_si512(_mm512_and_si512(a, m4), _mm512_and_si512(_mm512_slli_epi16(hh, 4), m30));
    const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), m4), _mm512_and_si512(hh, m30));
    d[2 * half] = Dpbusd(_mm512_setzero_si512(), q01, _mm512_loadu_si512(xl + 128 * half));
    d[2 * half + 1] = Dpbusd(_mm512_setzero_si512(), q23, _mm512_loadu_si512(xl + 128 * half + 64));
  }
  // Each 4 lanes are one 16-element half block: times its scale (lanes of vector k: halves 4k..4k+3).
  for (int k = 0; k < 4; ++k) {
    const __m512i which = _mm512_add_epi32(_mm512_set1_epi32(4 * k),
                                           _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    d[k] = _mm512_mullo_epi32(d[k], _mm512_permutexvar_epi32(which, scales));
  }
  // The -32 of every weight: 32 * Σ over the block's two halves of scale * Σ x_q.
  const __m512i corr16 = _mm512_mullo_epi32(scales, _mm512_loadu_si512(qsum16));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i corr = _mm512_castsi512_si256(
      _mm512_add_epi32(_mm512_permutexvar_epi32(even, corr16), _mm512_permutexvar_epi32(odd, corr16)));
  ws = _mm256_set1_ps(gi.f16[block->d]);
  return _mm256_sub_epi32(BlockSums8(d[0], d[1], d[2], d[3]), _mm256_slli_epi32(corr, 5));
}

// Tree8 of four vectors at once: lane r of the result is Tree8 of the r-th, same additions.
HWY_INLINE __m128 Tree8Quad(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 h3 = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));  // left halves | right halves
  return _mm_add_ps(_mm256_castps256_ps128(h3), _mm256_extractf128_ps(h3, 1));
}

// How far ahead of the group being read decode asks for weight bytes. The hardware prefetcher
// alone left a thread at about half its streaming rate (E2B Q8_0 output head: 13 -> 22 GB/s).
// The bytes go to L2 (prefetcht1), not L1: on Zen 4 a thread's 4 KiB of requests into L1
// exceeded what L1 keeps in flight, and the dropped or stalled requests held decode from memory
// at 10 GB/s a thread (262144x1536 Q4_0, 1 thread: 10.4 -> 21.5 GB/s with T1; Q8_0 10.7 ->
// 22.3); L2 to L1 is then quick enough for the kernel's loads.
constexpr int64_t kVnniPrefetchBytes = 4096;

// Decode: kRows (1 or 4) consecutive rows against one token (xq as quantized, xl in
// VnniDecodeLayout order); out[r] = y of row r. Rows are taken together so that the token's
// per-group values and the trees' shuffles serve several rows, and the rows' independent
// work overlaps.
template <DType kType, int kRows>
HWY_INLINE void VnniDecodeRows(const uint8_t* row0, size_t row_bytes, int64_t n_blocks, const int8_t* xq,
                               const int8_t* xl, const float* xs, const int32_t* xqsum, const int32_t* xqsum16,
                               const float* xsum, const float* f16, const VnniGather& gi, float* out) {
  using T = VnniType<kType>;
  using Block = typename T::Block;
  const int64_t n_groups = (n_blocks + 7) / 8;
  constexpr int64_t kGroupStride = T::kSuper ? 1 : 8;  // blocks of the row's type per group
  // Each row asks for its own bytes in a later pass of kRows rows, at least kVnniPrefetchBytes on.
  const size_t pass_bytes = kRows * row_bytes;
  const size_t ahead_bytes = pass_bytes * ((kVnniPrefetchBytes + pass_bytes - 1) / pass_bytes);
  // c_b of the `count` (8, or fewer in a row's last group) blocks of group g of one row.
  // Inlined: as a call per row and group it kept its constants and results on the stack (the
  // call and the spills took about a third of Q4_0 decode), and inlined, the token's values
  // (activation loads, offsets, scales) are shared by the kRows rows.
  auto group = [&](const Block* blocks, int64_t g, int count) __attribute__((always_inline)) {
    const char* ahead = reinterpret_cast<const char*>(blocks + kGroupStride * g) + ahead_bytes;
    constexpr int kLines = static_cast<int>((sizeof(Block) * kGroupStride + 63) / 64);
    for (int i = 0; i < kLines; ++i) _mm_prefetch(ahead + 64 * i, _MM_HINT_T1);
    __m256i sums = _mm256_setzero_si256();
    __m256 ws = _mm256_setzero_ps(), wo = _mm256_setzero_ps();
    if (count == 8) {
      sums = VnniGroupSums(blocks + kGroupStride * g, xl + 256 * g, xqsum16 + 16 * g, gi, ws, wo);
    } else if constexpr (!T::kSuper) {  // a row's last, shorter group (Q8_0, Q4_0): missing blocks count as zeros
      const int8_t* x = xq + 256 * g;
      __m512i d[4];
      for (int k = 0; k < 4; ++k) {
        const __m256i lo = 2 * k < count ? VnniBytes(blocks, g, 2 * k) : _mm256_setzero_si256();
        const __m256i hi = 2 * k + 1 < count ? VnniBytes(blocks, g, 2 * k + 1) : _mm256_setzero_si256();
        const __mmask64 valid = count >= 2 * k + 2 ? ~__mmask64{0} : count == 2 * k + 1 ? 0xFFFFFFFFull : 0;
        d[k] = Dpbusd(_mm512_setzero_si512(), Pair512(lo, hi), _mm512_maskz_loadu_epi8(valid, x + 64 * k));
      }
      sums = BlockSums8(d[0], d[1], d[2], d[3]);
      VnniScales(blocks, g, count, f16, ws, wo);
    }
    if constexpr (T::kOffset != 0)
      sums = _mm256_sub_epi32(sums, _mm256_mullo_epi32(LoadGroupInt(xqsum + 8 * g, count), _mm256_set1_epi32(T::kOffset)));
    const __m256 sw = _mm256_mul_ps(ws, LoadGroup(xs + 8 * g, count));
    if constexpr (T::kMin)
      return _mm256_fmsub_ps(_mm256_cvtepi32_ps(sums), sw, _mm256_mul_ps(wo, LoadGroup(xsum + 8 * g, count)));
    else
      return _mm256_mul_ps(_mm256_cvtepi32_ps(sums), sw);
  };
  const Block* rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = reinterpret_cast<const Block*>(row0 + r * row_bytes);
  // Lane r: y = (((0 + G_0) + G_1) + ...) of row r, one vector add per group for all rows.
  __m128 acc = _mm_setzero_ps();
  auto step = [&](int64_t g, int count) __attribute__((always_inline)) {
    if constexpr (kRows == 4) {
      acc = _mm_add_ps(acc, Tree8Quad(group(rows[0], g, count), group(rows[1], g, count), group(rows[2], g, count),
                                      group(rows[3], g, count)));
    } else {
      acc = _mm_add_ss(acc, _mm_set_ss(Tree8(group(rows[0], g, count))));
    }
  };
  const int64_t n_full = n_blocks / 8;
  for (int64_t g = 0; g < n_full; ++g) step(g, 8);
  if (n_full < n_groups) step(n_full, static_cast<int>(n_blocks - 8 * n_full));
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, acc);
  for (int r = 0; r < kRows; ++r) out[r] = lanes[r];
}

#include "kernels/matmul_quant_vnni512_repack-inl.h"

// The activations of every 4 tokens interleaved for the prefill tile, so that one pointer
// with fixed offsets reaches all four tokens' values of a block: q is [tile][block][step
// 0..7][token 0..3] of 4 bytes each; xs, xsum and qsum are [tile][block][token]; qsum16 is
// [tile][block][half][token]. A last, partial tile is padded with zero tokens. (With a pointer
// per token and per field, the tile kept its pointers in vector registers and on the stack:
// about one instruction in five of the E2B Q4_0 prompt's inner loop moved them back.)
struct VnniTokenTiles {
  uint64_t version = 0;  // QuantizedActivations::version these were made from
  std::vector<int32_t> q, qsum, qsum16;
  std::vector<float> xs, xsum;
};

constexpr int kVnniTileTokens = 4;

// Once per thread and matmul call (a thread's later chunks of the same call find them made).
inline void VnniInterleaveTokens(const QuantizedActivations& x, int64_t n_blocks, VnniTokenTiles& out) {
  if (x.version != 0 && out.version == x.version) return;  // 0: activations not from prepare_activations
  out.version = x.version;
  constexpr int kT = kVnniTileTokens;
  const int64_t n_tiles = (x.n_tokens + kT - 1) / kT;
  auto grow = [](auto& v, int64_t n) {
    if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  };
  grow(out.q, n_tiles * n_blocks * 8 * kT);
  grow(out.qsum, n_tiles * n_blocks * kT);
  grow(out.qsum16, n_tiles * n_blocks * 2 * kT);
  grow(out.xs, n_tiles * n_blocks * kT);
  grow(out.xsum, n_tiles * n_blocks * kT);
  for (int64_t token = 0; token < n_tiles * kT; ++token) {
    const int64_t tile = token / kT;
    const size_t t = static_cast<size_t>(token % kT);
    const bool real = token < x.n_tokens;  // else padding: zeros
    const int8_t* q = real ? x.token_q(token) : nullptr;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const size_t at = static_cast<size_t>(tile * n_blocks + b);
      for (int step = 0; step < 8; ++step) {
        int32_t bytes = 0;
        if (real) std::memcpy(&bytes, q + 32 * b + 4 * step, 4);
        out.q[(at * 8 + static_cast<size_t>(step)) * kT + t] = bytes;
      }
      out.qsum[at * kT + t] = real ? x.token_qsum(token)[b] : 0;
      for (int half = 0; half < 2; ++half)
        out.qsum16[(at * 2 + static_cast<size_t>(half)) * kT + t] = real ? x.token_qsum16(token)[2 * b + half] : 0;
      out.xs[at * kT + t] = real ? x.token_scale(token)[b] : 0.0f;
      out.xsum[at * kT + t] = real ? x.token_sum(token)[b] : 0.0f;
    }
  }
}

#include "kernels/matmul_quant_vnni512_sources-inl.h"

// y[t * stride + lane] for the 16 rows of `rows_src` (`rows` mask) and the first kN tokens of
// token tile `tile` (a last, partial tile computes only its real tokens).
template <DType kType, int kN = kVnniTileTokens, class Src>
HWY_INLINE void VnniPrefillTile(const Src& rows_src, int64_t n_blocks, const VnniTokenTiles& xt, int64_t tile,
                                float* y, int64_t stride, __mmask16 rows) {
  using T = VnniType<kType>;
  constexpr int kTokens = kVnniTileTokens;  // the layout's stride; kN of them are computed
  const int64_t n_groups = (n_blocks + 7) / 8;
  const int32_t* xq_tile = xt.q.data() + tile * n_blocks * 8 * kTokens;
  const int32_t* qsum_tile = xt.qsum.data() + tile * n_blocks * kTokens;
  const int32_t* qsum16_tile = xt.qsum16.data() + tile * n_blocks * 2 * kTokens;
  const float* xs_tile = xt.xs.data() + tile * n_blocks * kTokens;
  const float* xsum_tile = xt.xsum.data() + tile * n_blocks * kTokens;
  __m512 acc[kN];
  for (int t = 0; t < kN; ++t) acc[t] = _mm512_setzero_ps();
  // c_b of block b = 8g + j (block j of the group `src`) for every token (zeros past the row's
  // end). Inlined for every tile width: GCC kept it out of line for the partial tiles of 2-3
  // tokens (speculative checks).
  auto block = [&](const auto& src, int64_t g, int j, __m512* c) __attribute__((always_inline)) {
    const int64_t b = 8 * g + j;
    if (b >= n_blocks) {
      for (int t = 0; t < kN; ++t) c[t] = _mm512_setzero_ps();
      return;
    }
    __m512i sums[kN];
    // Token t's 4 bytes of step s of this block.
    const int8_t* xq = reinterpret_cast<const int8_t*>(xq_tile + b * 8 * kTokens);
    auto x4 = [&](int step, int t) { return xq + 4 * (kTokens * step + t); };
    if constexpr (T::kSubScales) {
      // Each half block starts from -32 Σ x_q of its 16 activations, then meets its scale.
      __m512i upper[kN];
      for (int t = 0; t < kN; ++t) {
        sums[t] = _mm512_set1_epi32(-32 * qsum16_tile[(2 * b) * kTokens + t]);
        upper[t] = _mm512_set1_epi32(-32 * qsum16_tile[(2 * b + 1) * kTokens + t]);
      }
      _Pragma("GCC unroll 4") for (int step = 0; step < 4; ++step) {
        const __m512i lo = src.SubStep(j, step), hi = src.SubStep(j, step + 4);
        for (int t = 0; t < kN; ++t) {
          sums[t] = DpbusdBroadcast(sums[t], lo, x4(step, t));
          upper[t] = DpbusdBroadcast(upper[t], hi, x4(step + 4, t));
        }
      }
      const __m512i sc_lo = src.SubScales(j, 0), sc_hi = src.SubScales(j, 1);
      for (int t = 0; t < kN; ++t)
        sums[t] = _mm512_add_epi32(_mm512_mullo_epi32(sums[t], sc_lo), _mm512_mullo_epi32(upper[t], sc_hi));
    } else {
      // Two chains per token (a pair of steps each), added at the end: a vpdpbusd waits for the
      // one before it on the same register, and 8 in a row made the latency, not the
      // multipliers, the limit. Integer sums: exact in any order.
      __m512i odd[kN];
      for (int t = 0; t < kN; ++t) {
        sums[t] = T::kOffset != 0 ? _mm512_set1_epi32(-T::kOffset * qsum_tile[b * kTokens + t]) : _mm512_setzero_si512();
        odd[t] = _mm512_setzero_si512();
      }
      _Pragma("GCC unroll 4") for (int i = 0; i < 4; ++i) {
        __m512i w0, w1;
        int s0, s1;
        src.Steps(j, i, w0, s0, w1, s1);
        for (int t = 0; t < kN; ++t) {
          sums[t] = DpbusdBroadcast(sums[t], w0, x4(s0, t));
          odd[t] = DpbusdBroadcast(odd[t], w1, x4(s1, t));
        }
      }
      for (int t = 0; t < kN; ++t) sums[t] = _mm512_add_epi32(sums[t], odd[t]);
    }
    const __m512 ws = src.Scales(j);
    for (int t = 0; t < kN; ++t) {
      const __m512 sw = _mm512_mul_ps(ws, _mm512_set1_ps(xs_tile[b * kTokens + t]));
      if constexpr (T::kMin)
        c[t] = _mm512_fmsub_ps(_mm512_cvtepi32_ps(sums[t]), sw,
                               _mm512_mul_ps(src.Mins(j), _mm512_set1_ps(xsum_tile[b * kTokens + t])));
      else
        c[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(sums[t]), sw);
    }
  };
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto group = rows_src.Group(g);
    __m512 c0[kN], c1[kN], left[kN], right[kN];
    // Same tree as Tree8, built as the blocks arrive.
    block(group, g, 0, c0), block(group, g, 1, c1);
    for (int t = 0; t < kN; ++t) left[t] = _mm512_add_ps(c0[t], c1[t]);
    block(group, g, 2, c0), block(group, g, 3, c1);
    for (int t = 0; t < kN; ++t) left[t] = _mm512_add_ps(left[t], _mm512_add_ps(c0[t], c1[t]));
    block(group, g, 4, c0), block(group, g, 5, c1);
    for (int t = 0; t < kN; ++t) right[t] = _mm512_add_ps(c0[t], c1[t]);
    block(group, g, 6, c0), block(group, g, 7, c1);
    for (int t = 0; t < kN; ++t) {
      right[t] = _mm512_add_ps(right[t], _mm512_add_ps(c0[t], c1[t]));
      acc[t] = _mm512_add_ps(acc[t], _mm512_add_ps(left[t], right[t]));
    }
  }
  for (int t = 0; t < kN; ++t) _mm512_mask_storeu_ps(y + t * stride, rows, acc[t]);
}

#include "kernels/matmul_quant_amx-inl.h"

// Up to this many tokens the rows are decoded one by one, each group of 4 rows for every token
// while it is in L1, so the weights are read from memory once whatever the token count; past
// it, 16 rows are repacked and the prefill tile takes them. For Q4_0, Q8_0 and Q4_K, whose groups of
// 16 rows are transposed in registers (matmul_quant_vnni512_repack-inl.h), the tile pays from 2
// tokens on (a 5-token pass, as speculative decoding checks 4 drafts: see the README); Q6_K's
// repack costs more than it saves below 9 tokens. Each (row, token) gets the same
// sum either way: a token's logits do not depend on how many tokens share the pass.
template <DType kType>
constexpr int64_t kVnniDecodeMaxTokens = (kType == DType::Q4_0 || kType == DType::Q8_0 || kType == DType::Q4_K) ? 1 : 8;

// Tokens [t_begin, t_end) (t_begin a multiple of the tile) against 16 rows read from `src`;
// y is token 0's first row.
template <DType kType, class Src>
HWY_INLINE void VnniTokenTilesOf(const Src& src, int64_t n_blocks, const VnniTokenTiles& tiles, int64_t t_begin,
                                 int64_t n_tokens, float* y, int64_t stride, __mmask16 rows) {
  for (int64_t t = t_begin; t < n_tokens; t += kVnniTileTokens) {
    const int n_valid = static_cast<int>(std::min<int64_t>(kVnniTileTokens, n_tokens - t));
    float* out = y + t * stride;
    // A last, partial tile computes only its real tokens (a 5-token pass is a tile and one).
    switch (n_valid) {
      case 1: VnniPrefillTile<kType, 1>(src, n_blocks, tiles, t / kVnniTileTokens, out, stride, rows); break;
      case 2: VnniPrefillTile<kType, 2>(src, n_blocks, tiles, t / kVnniTileTokens, out, stride, rows); break;
      case 3: VnniPrefillTile<kType, 3>(src, n_blocks, tiles, t / kVnniTileTokens, out, stride, rows); break;
      default: VnniPrefillTile<kType>(src, n_blocks, tiles, t / kVnniTileTokens, out, stride, rows);
    }
  }
}

// Weights packed at load (Q4_0, Q8_0, Q4_K, Q6_K): every token count goes straight to the tile, 16 rows
// at a time; rows [row_begin, row_end) are whole groups (matmul() splits them so).
template <DType kType>
HWY_INLINE void VnniRowsFromPacked(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                               int64_t row_end) {
  const int64_t n_blocks = w.cols / 32;
  thread_local VnniTokenTiles tiles;
  VnniInterleaveTokens(x, n_blocks, tiles);
  const size_t group_bytes = packed_group_bytes(w.dtype, w.cols), q_offset = packed_q_offset(w.dtype, w.cols);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += 16) {
    const uint8_t* group = w.packed + static_cast<size_t>(r0 / 16) * group_bytes;
    const PackedRows<kType> first{group + q_offset, group, true};
    const PackedRows<kType> again{first.q, first.head, false};
    float* out = y + r0;
    // The first tile streams the group from memory (and asks for what comes next); the
    // others find it in cache.
    VnniTokenTilesOf<kType>(first, n_blocks, tiles, 0, std::min<int64_t>(x.n_tokens, kVnniTileTokens), out, w.rows,
                            0xFFFF);
    VnniTokenTilesOf<kType>(again, n_blocks, tiles, kVnniTileTokens, x.n_tokens, out, w.rows, 0xFFFF);
  }
}

template <DType kType>
void VnniRows(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin, int64_t row_end) {
  const int64_t n_blocks = w.cols / 32, n_tokens = x.n_tokens, stride = w.rows;
  if (w.packed != nullptr) {  // every type here has a packed layout (packed_weights.h)
    VnniRowsFromPacked<kType>(w, x, y, row_begin, row_end);
    return;
  }
  if (n_tokens <= kVnniDecodeMaxTokens<kType>) {
    const float* f16 = f16_table();
    static const VnniGather gather;
    thread_local std::vector<int8_t> layouts;
    layouts.resize(static_cast<size_t>(n_tokens * w.cols));
    for (int64_t t = 0; t < n_tokens; ++t) VnniDecodeLayout<kType>(x.token_q(t), w.cols, layouts.data() + t * w.cols);
    const size_t row_bytes = dtype_row_bytes(w.dtype, w.cols);
    auto rows = [&]<int kRows>(int64_t r, int64_t t) {
      VnniDecodeRows<kType, kRows>(w.row(r), row_bytes, n_blocks, x.token_q(t), layouts.data() + t * w.cols,
                                   x.token_scale(t), x.token_qsum(t), x.token_qsum16(t), x.token_sum(t), f16, gather,
                                   y + t * stride + r);
    };
    int64_t r = row_begin;
    for (; r + 4 <= row_end; r += 4)
      for (int64_t t = 0; t < n_tokens; ++t) rows.template operator()<4>(r, t);
    for (; r < row_end; ++r)
      for (int64_t t = 0; t < n_tokens; ++t) rows.template operator()<1>(r, t);
    return;
  }
  if constexpr (kAmxType<kType>) {
    if (amx_int8_in_use()) {
      AmxRows<kType>(w, x, y, row_begin, row_end);
      return;
    }
  }
  thread_local VnniPackedRows packed;
  thread_local VnniTokenTiles tiles;
  VnniInterleaveTokens(x, n_blocks, tiles);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += 16) {
    const int n_rows = static_cast<int>(std::min<int64_t>(16, row_end - r0));
    const __mmask16 rows = static_cast<__mmask16>((1u << n_rows) - 1);
    VnniRepack<kType>(w, r0, n_rows, packed);
    VnniTokenTilesOf<kType>(ExpandedRows{packed}, n_blocks, tiles, 0, n_tokens, y + r0, stride, rows);
  }
}

// The types these kernels take; false (nothing written) for the others.
HWY_INLINE bool VnniQuantRows(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                              int64_t row_end) {
  switch (w.dtype) {
    case DType::Q8_0: VnniRows<DType::Q8_0>(w, x, y, row_begin, row_end); return true;
    case DType::Q4_0: VnniRows<DType::Q4_0>(w, x, y, row_begin, row_end); return true;
    case DType::Q4_K: VnniRows<DType::Q4_K>(w, x, y, row_begin, row_end); return true;
    case DType::Q6_K: VnniRows<DType::Q6_K>(w, x, y, row_begin, row_end); return true;
    default: return false;
  }
}
