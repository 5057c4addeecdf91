// The prefill tile's weight sources, included by matmul_quant_vnni512-inl.h for the AVX3_DL
// target only, after the repack (VnniPackedRows) and kVnniPrefetchBytes. No include guard: it
// belongs to that one target pass.
//
// Where the tile reads 16 rows' weights. A source's Group(g) gives the 8 blocks of group g;
// for block j (0..7) of it and i = 0..3, Steps gives two vectors of unsigned weight bytes (4 a
// row, 16 rows) and the activation steps they meet, and Scales (and Mins, SubStep, SubScales)
// the rows' scales. The tile asks per group so that a block's addresses are the group's
// pointers plus constants (j and i are known once the tile's loops are unrolled), and what the
// 8 blocks share (Q4_K's d and dmin, Q6_K's d) is converted once.
//
// ExpandedRows: repacked per call (VnniRepack: a byte a weight, f32 scales), every type.
// A group's addresses are made only by the accessors a type uses: wo and sc are empty (null
// data) for the types without mins or sub-block scales, and an offset from null is undefined.
struct ExpandedRows {
  const VnniPackedRows& p;
  struct Group8 {
    const VnniPackedRows& p;
    int64_t b0;  // the group's first block
    HWY_INLINE void Steps(int j, int i, __m512i& w0, int& s0, __m512i& w1, int& s1) const {
      s0 = 2 * i, s1 = 2 * i + 1;
      w0 = SubStep(j, s0);
      w1 = SubStep(j, s1);
    }
    HWY_INLINE __m512 Scales(int j) const { return _mm512_loadu_ps(p.ws.data() + 16 * (b0 + j)); }
    HWY_INLINE __m512 Mins(int j) const { return _mm512_loadu_ps(p.wo.data() + 16 * (b0 + j)); }
    // Q6_K: the 6-bit weights of step s (0..7), and the int8 scales of half 0 or 1, as int32.
    HWY_INLINE __m512i SubStep(int j, int s) const { return _mm512_loadu_si512(p.q.data() + (b0 + j) * 128 + 16 * s); }
    HWY_INLINE __m512i SubScales(int j, int half) const {
      return _mm512_loadu_si512(p.sc.data() + 32 * (b0 + j) + 16 * half);
    }
  };
  HWY_INLINE Group8 Group(int64_t g) const { return {p, 8 * g}; }
};

// PackedRows: Q4_0, Q8_0, Q4_K or Q6_K packed at load (kernels/packed_weights.h). Q4_0: dword s of a
// row's block holds steps s (low nibbles) and s + 4 (high nibbles); Q8_0: step s, signed (made
// unsigned as the repack does, + 128); Q4_K: dword s of chunk k holds step s of sub-blocks 2k
// (low) and 2k + 1 (high); Q6_K: see SubStep. The scales are the file's f16 (and Q4_K's 6-bit sc
// and m, Q6_K's int8 sub-block scales), made into the expanded rows' f32 ws and wo (and int32
// sc) with the same one rounding. `prefetch`: ask for the bytes
// kVnniPrefetchBytes ahead (the first token tile, which streams them from memory).
template <DType kType>
struct PackedRows {
  static constexpr int kBlockBytes = kType == DType::Q8_0 ? 512 : 256;  // q bytes of a block, 16 rows
  // q bytes and head bytes of a group of 8 blocks (Q4_K, Q6_K: one super-block)
  static constexpr int64_t kGroupQ = kType == DType::Q6_K ? 3072 : kType == DType::Q4_K ? 2048 : 8 * kBlockBytes;
  static constexpr int64_t kGroupHead = kType == DType::Q6_K ? 288 : kType == DType::Q4_K ? 320 : 8 * 32;
  const uint8_t* q;     // [block][dword][row] 4 bytes each (Q4_K: [super-block][chunk][dword][row])
  const uint8_t* head;  // the group's scales: f16 [block][row] (Q4_K: 320 bytes a super-block, Q6_K: 288)
  bool prefetch;

  struct Group8 {
    const uint8_t* q;     // the group's first q byte
    const uint8_t* head;  // its first head byte
    bool prefetch;
    __m512 d, dmin;  // Q4_K: d and dmin; Q6_K: d (converted once for the 8 blocks)
    HWY_INLINE void Steps(int j, int i, __m512i& w0, int& s0, __m512i& w1, int& s1) const;
    HWY_INLINE __m512 Scales(int j) const {
      if constexpr (kType == DType::Q4_K) return _mm512_mul_ps(d, SubScaleBytes(64 + 16 * j));
      else if constexpr (kType == DType::Q6_K) return d;
      else return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(head + 32 * j)));
    }
    HWY_INLINE __m512 Mins(int j) const { return _mm512_mul_ps(dmin, SubScaleBytes(192 + 16 * j)); }
    HWY_INLINE __m512i SubStep(int j, int s) const;
    HWY_INLINE __m512i SubScales(int j, int half) const {
      return _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(head + 32 + 16 * (2 * j + half))));
    }
    // Q4_K: the 16 rows' 6-bit sc or m (bytes at `at` of the head) as floats.
    HWY_INLINE __m512 SubScaleBytes(int at) const {
      return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(head + at))));
    }
  };
  HWY_INLINE Group8 Group(int64_t g) const {
    Group8 out{q + g * kGroupQ, head + g * kGroupHead, prefetch, _mm512_setzero_ps(), _mm512_setzero_ps()};
    if constexpr (kType == DType::Q4_K || kType == DType::Q6_K)
      out.d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(out.head)));
    if constexpr (kType == DType::Q4_K)
      out.dmin = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(out.head + 32)));
    return out;
  }
};

template <DType kType>
HWY_INLINE void PackedRows<kType>::Group8::Steps(int j, int i, __m512i& w0, int& s0, __m512i& w1, int& s1) const {
  if constexpr (kType == DType::Q4_K) {
    // Two sub-blocks share a chunk: the first of them asks for the chunk's lines and (at a
    // super-block's start) the scales, as far ahead in time.
    const uint8_t* at = q + (j / 2) * 512 + 128 * i;
    if (prefetch && j % 2 == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(at) + kVnniPrefetchBytes, _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(at) + kVnniPrefetchBytes + 64, _MM_HINT_T1);
      if (j == 0 && i < 5) _mm_prefetch(reinterpret_cast<const char*>(head + 64 * i) + 640, _MM_HINT_T1);
    }
    const __m512i nib = _mm512_set1_epi8(0x0F);
    const __m512i v0 = _mm512_load_si512(at), v1 = _mm512_load_si512(at + 64);
    s0 = 2 * i, s1 = 2 * i + 1;
    if (j % 2 == 0) {
      w0 = _mm512_and_si512(v0, nib);
      w1 = _mm512_and_si512(v1, nib);
    } else {
      w0 = _mm512_and_si512(_mm512_srli_epi32(v0, 4), nib);
      w1 = _mm512_and_si512(_mm512_srli_epi32(v1, 4), nib);
    }
    return;
  }
  // The scales come at 32 bytes a block: a line every other block, as far ahead in time.
  constexpr int64_t kScalesAhead = kVnniPrefetchBytes * 32 / kBlockBytes;
  if (prefetch && i == 0 && j % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(head + 32 * j) + kScalesAhead, _MM_HINT_T1);
  if constexpr (kType == DType::Q4_0) {
    const uint8_t* at = q + j * kBlockBytes + 64 * i;
    if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(at) + kVnniPrefetchBytes, _MM_HINT_T1);
    const __m512i v = _mm512_load_si512(at), nib = _mm512_set1_epi8(0x0F);
    s0 = i, s1 = i + 4;
    w0 = _mm512_and_si512(v, nib);
    w1 = _mm512_and_si512(_mm512_srli_epi32(v, 4), nib);
  } else {
    const uint8_t* at = q + j * kBlockBytes + 128 * i;
    if (prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(at) + kVnniPrefetchBytes, _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(at) + kVnniPrefetchBytes + 64, _MM_HINT_T1);
    }
    const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
    s0 = 2 * i, s1 = 2 * i + 1;
    w0 = _mm512_xor_si512(_mm512_load_si512(at), sign);
    w1 = _mm512_xor_si512(_mm512_load_si512(at + 64), sign);
  }
}

// Q6_K: block 4h + k of a super-block takes step s's low 4 bits from part k % 2 of half h (the
// low nibbles for k < 2), its top 2 bits from bits 2k, 2k + 1 of part 2 (packed_weights.h).
template <DType kType>
HWY_INLINE __m512i PackedRows<kType>::Group8::SubStep(int j, int s) const {
  const int k = j & 3, half = j >> 2;
  const uint8_t* region = q + 1536 * half;
  if (prefetch && s < 3) {
    // The 4 blocks of a half each ask for a quarter of its 1536 bytes, as far ahead in time;
    // a super-block's first block, for the scales two super-blocks on.
    const char* ahead = reinterpret_cast<const char*>(region) + kVnniPrefetchBytes + 384 * k + 128 * s;
    _mm_prefetch(ahead, _MM_HINT_T1);
    _mm_prefetch(ahead + 64, _MM_HINT_T1);
    if (j == 0) {
      const char* scales = reinterpret_cast<const char*>(head + 576 + 128 * s);
      _mm_prefetch(scales, _MM_HINT_T1);
      _mm_prefetch(scales + 64, _MM_HINT_T1);
    }
  }
  const __m512i low = _mm512_load_si512(region + 512 * (k & 1) + 64 * s);
  const __m512i high = _mm512_load_si512(region + 1024 + 64 * s);
  const __m512i low4 = k < 2 ? low : _mm512_srli_epi32(low, 4);
  __m512i top2;  // bits 2k, 2k + 1 moved to 4, 5 (the neighbours' bits land elsewhere, masked off)
  switch (k) {
    case 0: top2 = _mm512_slli_epi32(high, 4); break;
    case 1: top2 = _mm512_slli_epi32(high, 2); break;
    case 2: top2 = high; break;
    default: top2 = _mm512_srli_epi32(high, 2); break;
  }
  top2 = _mm512_and_si512(top2, _mm512_set1_epi8(0x30));
  // (low4 & 0x0F) | top2: truth table of (A & C) | B over A = 0xF0, B = 0xCC, C = 0xAA.
  return _mm512_ternarylogic_epi32(low4, top2, _mm512_set1_epi8(0x0F), 0xEC);
}
