// Row kernels of matmul() for quantized weights (Q8_0, Q4_0, Q4_K, Q6_K), written once with
// Google Highway and compiled per instruction set (foreach_target); HWY_DYNAMIC_DISPATCH
// picks the best one the CPU supports at run time.
//
// Activations arrive quantized to 8 bits per block of 32 (QuantizeActivations, below).
// x86 targets (AVX2, AVX-512, AVX-512 VNNI) multiply bytes by bytes: matmul_quant_x86-inl.h;
// with AVX-512 VNNI, every type takes the 512-bit kernels of matmul_quant_vnni512-inl.h
// (and, opt-in with FACET_AMX=1 on Intel Xeons that have AMX, prompts of Q8_0/Q4_0/Q4_K take
// the tile kernels of matmul_quant_amx-inl.h, same bits).
// Other targets (the portable baseline, NEON, ...) and the types for which it is faster on AVX2
// widen both sides to int16 (the activations come widened already) and use pairwise
// multiply-add into int32, one f32 scale step per block: decode (one token) reads the blocks
// directly, prefill unpacks a block of rows once to int16 (sub-block scales folded in) and
// sweeps tiles of 4 tokens over it. On AVX2, Q4_0 and Q8_0 prefill instead runs byte products
// that reproduce the int16 decode kernel's sums exactly (matmul_quant_paired_x86-inl.h).
#include "kernels/simd_targets.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_quant_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>

#include "kernels/amx_support.h"
#include "kernels/matmul_simd.h"
#include "kernels/packed_weights.h"
#include "tensor/convert.h"
#include "tensor/quant_blocks.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace facet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#define FACET_X86_BYTE_KERNELS \
  (HWY_ARCH_X86 && (HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL))

constexpr int kTokenTile = 4;
// Rows processed together so a tile of tokens' activations stays in L1 while it meets
// each of them (prefill would otherwise stream all activations once per row).
constexpr int64_t kRowBlock = 16;

// Block scales are f16, decoded through f16_table(): a lookup beats the bit-twiddling
// conversion. Each kernel fetches the table once, outside its loops (a call inside a loop
// would spill every vector register).

// A weight row unpacked to int16 with one scale (and, for Q4_K, one min term) per 32.
struct UnpackedRow {
  std::vector<int16_t> q;
  std::vector<float> scale;  // weight ≈ scale[b] * q - offset[b]
  std::vector<float> offset;
  bool has_offset = false;
};

using D16 = hn::CappedTag<int16_t, 16>;  // at most 16 lanes: never crosses a Q6_K sub-block

void UnpackQ8_0(const BlockQ8_0* blocks, int64_t n_blocks, UnpackedRow& u) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Rebind<int8_t, D16> d8;
  const size_t N = hn::Lanes(d16);
  for (int64_t b = 0; b < n_blocks; ++b) {
    int16_t* out = u.q.data() + b * 32;
    for (size_t i = 0; i < 32; i += N) hn::StoreU(hn::PromoteTo(d16, hn::LoadU(d8, blocks[b].qs + i)), d16, out + i);
    u.scale[static_cast<size_t>(b)] = half_to_float[blocks[b].d];
  }
}

void UnpackQ4_0(const BlockQ4_0* blocks, int64_t n_blocks, UnpackedRow& u) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Rebind<uint8_t, D16> d8;
  const size_t N = hn::Lanes(d16);
  const auto mask = hn::Set(d16, 0xF), eight = hn::Set(d16, 8);
  for (int64_t b = 0; b < n_blocks; ++b) {
    int16_t* out = u.q.data() + b * 32;
    for (size_t j = 0; j < 16; j += N) {
      const auto bytes = hn::PromoteTo(d16, hn::LoadU(d8, blocks[b].qs + j));
      hn::StoreU(hn::Sub(hn::And(bytes, mask), eight), d16, out + j);
      hn::StoreU(hn::Sub(hn::ShiftRight<4>(bytes), eight), d16, out + 16 + j);
    }
    u.scale[static_cast<size_t>(b)] = half_to_float[blocks[b].d];
  }
}

// Sub-block scales (6 bits) are folded into the int16 values (at most 15 * 63).
void UnpackQ4_K(const BlockQ4_K* blocks, int64_t n_blocks, UnpackedRow& u) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Rebind<uint8_t, D16> d8;
  const size_t N = hn::Lanes(d16);
  const auto mask = hn::Set(d16, 0xF);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ4_K& blk = blocks[b];
    const float d = half_to_float[blk.d], dmin = half_to_float[blk.dmin];
    int16_t* out = u.q.data() + b * kQK_K;
    for (int g = 0; g < 4; ++g) {
      uint8_t sc_lo, m_lo, sc_hi, m_hi;
      q4_k_scale_min(blk.scales, 2 * g, &sc_lo, &m_lo);
      q4_k_scale_min(blk.scales, 2 * g + 1, &sc_hi, &m_hi);
      const auto vlo = hn::Set(d16, sc_lo), vhi = hn::Set(d16, sc_hi);
      for (size_t l = 0; l < 32; l += N) {
        const auto bytes = hn::PromoteTo(d16, hn::LoadU(d8, blk.qs + 32 * g + l));
        hn::StoreU(hn::Mul(hn::And(bytes, mask), vlo), d16, out + 64 * g + l);
        hn::StoreU(hn::Mul(hn::ShiftRight<4>(bytes), vhi), d16, out + 64 * g + 32 + l);
      }
      const size_t s = static_cast<size_t>(b * 8 + 2 * g);
      u.scale[s] = u.scale[s + 1] = d;
      u.offset[s] = dmin * m_lo;
      u.offset[s + 1] = dmin * m_hi;
    }
  }
}

// (q - 32) * int8 scale fits int16 (at most 32 * 128).
void UnpackQ6_K(const BlockQ6_K* blocks, int64_t n_blocks, UnpackedRow& u) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Rebind<uint8_t, D16> d8;
  const size_t N = hn::Lanes(d16);
  const auto mask = hn::Set(d16, 0xF), three = hn::Set(d16, 3), bias = hn::Set(d16, 32);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ6_K& blk = blocks[b];
    int16_t* out = u.q.data() + b * kQK_K;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = blk.ql + 64 * half;
      const uint8_t* qh = blk.qh + 32 * half;
      for (size_t l = 0; l < 32; l += N) {
        const auto h = hn::PromoteTo(d16, hn::LoadU(d8, qh + l));
        const auto a = hn::PromoteTo(d16, hn::LoadU(d8, ql + l));
        const auto c = hn::PromoteTo(d16, hn::LoadU(d8, ql + 32 + l));
        const hn::Vec<D16> low[4] = {hn::And(a, mask), hn::And(c, mask), hn::ShiftRight<4>(a), hn::ShiftRight<4>(c)};
        const hn::Vec<D16> high[4] = {hn::And(h, three), hn::And(hn::ShiftRight<2>(h), three),
                                      hn::And(hn::ShiftRight<4>(h), three), hn::ShiftRight<6>(h)};
        for (int k = 0; k < 4; ++k) {
          const size_t i = static_cast<size_t>(128 * half + 32 * k) + l;
          const auto q = hn::Sub(hn::Or(low[k], hn::ShiftLeft<4>(high[k])), bias);
          hn::StoreU(hn::Mul(q, hn::Set(d16, blk.scales[i / 16])), d16, out + i);
        }
      }
    }
    const float d = half_to_float[blk.d];
    for (int s = 0; s < 8; ++s) u.scale[static_cast<size_t>(b * 8 + s)] = d;
  }
}

void UnpackRow(const WeightMatrix& w, int64_t r, UnpackedRow& u) {
  const int64_t n_blocks32 = w.cols / 32;
  u.q.resize(static_cast<size_t>(w.cols));
  u.scale.resize(static_cast<size_t>(n_blocks32));
  u.offset.assign(static_cast<size_t>(n_blocks32), 0.0f);
  u.has_offset = w.dtype == DType::Q4_K;
  const uint8_t* row = w.row(r);
  switch (w.dtype) {
    case DType::Q8_0: return UnpackQ8_0(reinterpret_cast<const BlockQ8_0*>(row), n_blocks32, u);
    case DType::Q4_0: return UnpackQ4_0(reinterpret_cast<const BlockQ4_0*>(row), n_blocks32, u);
    case DType::Q4_K: return UnpackQ4_K(reinterpret_cast<const BlockQ4_K*>(row), w.cols / kQK_K, u);
    case DType::Q6_K: return UnpackQ6_K(reinterpret_cast<const BlockQ6_K*>(row), w.cols / kQK_K, u);
    default: fail("internal: no quantized kernel for ", dtype_name(w.dtype));
  }
}

// Vectorised: a scalar loop here is one long dependent chain per token and row.
HWY_INLINE float DotF32(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto acc = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) acc = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc);
  float sum = hn::GetLane(hn::SumOfLanes(df, acc));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[t] = Σ_b scale_w[b] * scale_x[t][b] * <q_w, q_x>_b - Σ_b offset[b] * sum_x[t][b].
template <int T>
HWY_INLINE void QuantRowTile(const UnpackedRow& u, const QuantizedActivations& x, int64_t t0, float* y,
                             int64_t y_stride) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Repartition<float, decltype(d16)> df;
  const size_t N = hn::Lanes(d16);
  const int64_t n_blocks = x.cols / 32;
  const int16_t* xq[T];
  const float* xs[T];
  hn::Vec<decltype(df)> acc[T];
  _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) {
    xq[t] = x.token_q16(t0 + t);
    xs[t] = x.token_scale(t0 + t);
    acc[t] = hn::Zero(df);
  }
  for (int64_t b = 0; b < n_blocks; ++b) {
    hn::Vec<decltype(d32)> sum0[T], sum1[T];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) sum0[t] = sum1[t] = hn::Zero(d32);
    const int16_t* wq = u.q.data() + b * 32;
    for (size_t i = 0; i < 32; i += N) {
      const auto wv = hn::LoadU(d16, wq + i);
      _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t)
        sum0[t] = hn::ReorderWidenMulAccumulate(d32, wv, hn::LoadU(d16, xq[t] + b * 32 + i), sum0[t], sum1[t]);
    }
    const float ws = u.scale[static_cast<size_t>(b)];
    _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t)
      acc[t] = hn::MulAdd(hn::ConvertTo(df, hn::Add(sum0[t], sum1[t])), hn::Set(df, ws * xs[t][b]), acc[t]);
  }
  _Pragma("GCC unroll 4") for (int t = 0; t < T; ++t) {
    float total = hn::GetLane(hn::SumOfLanes(df, acc[t]));
    if (u.has_offset) total -= DotF32(u.offset.data(), x.token_sum(t0 + t), n_blocks);
    y[t * y_stride] = total;
  }
}

// Decode (one token) of the 32-blocks types: dot products straight from the blocks, without
// the unpacked copy that prefill amortises over many tokens.
template <DType kType>
float DotBlocks32(const uint8_t* row, int64_t n_blocks, const int16_t* xq, const float* xs) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Repartition<int32_t, D16> d32;
  const hn::Repartition<float, D16> df;
  const size_t N = hn::Lanes(d16);
  auto acc = hn::Zero(df);
  // Unrolled: the loop overhead was a good part of a block's few instructions (Q4_0 decode of a
  // whole model ran about 13% faster).
  _Pragma("GCC unroll 4") for (int64_t b = 0; b < n_blocks; ++b) {
    auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
    const int16_t* x = xq + b * 32;
    float d;
    if constexpr (kType == DType::Q4_0) {
      const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
      const hn::Rebind<uint8_t, D16> d8;
      const auto mask = hn::Set(d16, 0xF), eight = hn::Set(d16, 8);
      for (size_t j = 0; j < 16; j += N) {
        const auto bytes = hn::PromoteTo(d16, hn::LoadU(d8, blk->qs + j));
        s0 = hn::ReorderWidenMulAccumulate(d32, hn::Sub(hn::And(bytes, mask), eight), hn::LoadU(d16, x + j), s0, s1);
        s0 = hn::ReorderWidenMulAccumulate(d32, hn::Sub(hn::ShiftRight<4>(bytes), eight), hn::LoadU(d16, x + 16 + j),
                                           s0, s1);
      }
      d = half_to_float[blk->d];
    } else {
      const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
      const hn::Rebind<int8_t, D16> d8;
      for (size_t j = 0; j < 32; j += N)
        s0 = hn::ReorderWidenMulAccumulate(d32, hn::PromoteTo(d16, hn::LoadU(d8, blk->qs + j)), hn::LoadU(d16, x + j),
                                           s0, s1);
      d = half_to_float[blk->d];
    }
    acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(s0, s1)), hn::Set(df, d * xs[b]), acc);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

// Decode of Q4_K straight from the blocks. Same arithmetic as the unpacked path (sub-block
// scales folded into the int16 values, min terms as one dot product at the end), so a token
// gets the same logits whether it is decoded alone or in a batch. `offsets`: n_super * 8 floats.
float DotQ4_K(const BlockQ4_K* blocks, int64_t n_super, const int16_t* xq, const float* xs, const float* xsum,
              float* offsets) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Rebind<uint8_t, D16> d8;
  const hn::Repartition<int32_t, D16> d32;
  const hn::Repartition<float, D16> df;
  const size_t N = hn::Lanes(d16);
  const auto mask = hn::Set(d16, 0xF);
  auto acc = hn::Zero(df);
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const BlockQ4_K& blk = blocks[sb];
    const float d = half_to_float[blk.d], dmin = half_to_float[blk.dmin];
    for (int g = 0; g < 4; ++g) {
      uint8_t sc_lo, m_lo, sc_hi, m_hi;
      q4_k_scale_min(blk.scales, 2 * g, &sc_lo, &m_lo);
      q4_k_scale_min(blk.scales, 2 * g + 1, &sc_hi, &m_hi);
      const int64_t b = sb * 8 + 2 * g;  // activation block of the low nibbles; b + 1 for the high
      const int16_t* x = xq + b * 32;
      const auto vlo = hn::Set(d16, sc_lo), vhi = hn::Set(d16, sc_hi);
      auto lo0 = hn::Zero(d32), lo1 = hn::Zero(d32), hi0 = hn::Zero(d32), hi1 = hn::Zero(d32);
      for (size_t l = 0; l < 32; l += N) {
        const auto bytes = hn::PromoteTo(d16, hn::LoadU(d8, blk.qs + 32 * g + l));
        lo0 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(hn::And(bytes, mask), vlo), hn::LoadU(d16, x + l), lo0, lo1);
        hi0 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(hn::ShiftRight<4>(bytes), vhi), hn::LoadU(d16, x + 32 + l),
                                            hi0, hi1);
      }
      acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(lo0, lo1)), hn::Set(df, d * xs[b]), acc);
      acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(hi0, hi1)), hn::Set(df, d * xs[b + 1]), acc);
      offsets[b] = dmin * m_lo;
      offsets[b + 1] = dmin * m_hi;
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, acc)) - DotF32(offsets, xsum, n_super * 8);
}

// Decode of Q6_K straight from the blocks; (q - 32) * int8 sub-block scale fits int16.
float DotQ6_K(const BlockQ6_K* blocks, int64_t n_super, const int16_t* xq, const float* xs) {
  const float* half_to_float = f16_table();
  const D16 d16;
  const hn::Rebind<uint8_t, D16> d8;
  const hn::Repartition<int32_t, D16> d32;
  const hn::Repartition<float, D16> df;
  const size_t N = hn::Lanes(d16);
  const auto mask = hn::Set(d16, 0xF), three = hn::Set(d16, 3), bias = hn::Set(d16, 32);
  auto acc = hn::Zero(df);
  for (int64_t sb = 0; sb < n_super; ++sb) {
    const BlockQ6_K& blk = blocks[sb];
    const float d = half_to_float[blk.d];
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = blk.ql + 64 * half;
      const uint8_t* qh = blk.qh + 32 * half;
      const int16_t* x = xq + sb * kQK_K + 128 * half;
      const int8_t* sc = blk.scales + 8 * half;  // sub-block of element 32 k + l: 2 k + l / 16
      // s_k: block k of this half; o_k: the products some targets (not x86) keep apart.
      auto s0 = hn::Zero(d32), s1 = hn::Zero(d32), s2 = hn::Zero(d32), s3 = hn::Zero(d32);
      auto o0 = hn::Zero(d32), o1 = hn::Zero(d32), o2 = hn::Zero(d32), o3 = hn::Zero(d32);
      for (size_t l = 0; l < 32; l += N) {
        const auto h = hn::PromoteTo(d16, hn::LoadU(d8, qh + l));
        const auto a = hn::PromoteTo(d16, hn::LoadU(d8, ql + l));
        const auto c = hn::PromoteTo(d16, hn::LoadU(d8, ql + 32 + l));
        const size_t s = l / 16;
        const auto q0 = hn::Sub(hn::Or(hn::And(a, mask), hn::ShiftLeft<4>(hn::And(h, three))), bias);
        const auto q1 = hn::Sub(hn::Or(hn::And(c, mask), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(h), three))), bias);
        const auto q2 = hn::Sub(hn::Or(hn::ShiftRight<4>(a), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(h), three))), bias);
        const auto q3 = hn::Sub(hn::Or(hn::ShiftRight<4>(c), hn::ShiftLeft<4>(hn::ShiftRight<6>(h))), bias);
        s0 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q0, hn::Set(d16, sc[0 + s])), hn::LoadU(d16, x + l), s0, o0);
        s1 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q1, hn::Set(d16, sc[2 + s])), hn::LoadU(d16, x + 32 + l), s1, o1);
        s2 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q2, hn::Set(d16, sc[4 + s])), hn::LoadU(d16, x + 64 + l), s2, o2);
        s3 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q3, hn::Set(d16, sc[6 + s])), hn::LoadU(d16, x + 96 + l), s3, o3);
      }
      const float* bs = xs + sb * 8 + 4 * half;
      acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(s0, o0)), hn::Set(df, d * bs[0]), acc);
      acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(s1, o1)), hn::Set(df, d * bs[1]), acc);
      acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(s2, o2)), hn::Set(df, d * bs[2]), acc);
      acc = hn::MulAdd(hn::ConvertTo(df, hn::Add(s3, o3)), hn::Set(df, d * bs[3]), acc);
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

#if FACET_X86_BYTE_KERNELS
#include "kernels/matmul_quant_x86-inl.h"
#endif
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
#include "kernels/matmul_quant_paired_x86-inl.h"
#endif
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX3_DL
#include "kernels/matmul_quant_vnni512-inl.h"
#endif

#if FACET_X86_BYTE_KERNELS
// The types whose byte kernel beats the int16 kernel on this target. Measured on AVX2 (Zen,
// 1 thread, E2B shapes): Q4_K decodes 1.3-1.6x faster through bytes (its nibbles need no
// widening and its scale/min unpacking is vectorised); Q4_0, Q8_0 and Q6_K are faster
// through the int16 path, because without VNNI a byte product still needs vpmaddwd to reach
// int32, so bytes save no arithmetic. With VNNI (AVX3_DL) one vpdpbusd does both steps.
// AVX-512 without VNNI (AVX3) takes the byte kernels for every type too: there the int16
// decode kernel (16 lanes) and the int16 prefill tiles (32 lanes) would round differently, and
// a token's result must not depend on its batch.
HWY_INLINE bool QuantRowsNative(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                                int64_t row_end) {
#if HWY_TARGET == HWY_AVX3_DL
  return VnniQuantRows(w, x, y, row_begin, row_end);
#elif HWY_TARGET == HWY_AVX3
  return QuantRowsBytes(w, x, y, row_begin, row_end);
#else
  if (w.dtype == DType::Q4_K) return QuantRowsBytes(w, x, y, row_begin, row_end);
  return false;
#endif
}
#endif

void QuantRows(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin, int64_t row_end) {
#if FACET_X86_BYTE_KERNELS
  if (QuantRowsNative(w, x, y, row_begin, row_end)) return;
#endif
  if (x.n_tokens == 1 && w.dtype == DType::Q6_K) {
    for (int64_t r = row_begin; r < row_end; ++r)
      y[r] = DotQ6_K(reinterpret_cast<const BlockQ6_K*>(w.row(r)), w.cols / kQK_K, x.token_q16(0), x.token_scale(0));
    return;
  }
  if (x.n_tokens == 1 && w.dtype == DType::Q4_K) {
    thread_local std::vector<float> offsets;
    offsets.resize(static_cast<size_t>(w.cols / 32));
    for (int64_t r = row_begin; r < row_end; ++r)
      y[r] = DotQ4_K(reinterpret_cast<const BlockQ4_K*>(w.row(r)), w.cols / kQK_K, x.token_q16(0), x.token_scale(0),
                     x.token_sum(0), offsets.data());
    return;
  }
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
  constexpr bool kPairedPrefill = true;
#else
  constexpr bool kPairedPrefill = false;
#endif
  if ((w.dtype == DType::Q4_0 || w.dtype == DType::Q8_0) && (x.n_tokens == 1 || kPairedPrefill)) {
    int64_t t = 0;
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
    // Prefill: whole tiles of 4 tokens through the byte kernel (the same sums as
    // DotBlocks32), the remaining tokens as decode.
    t = x.n_tokens / 4 * 4;
    if (w.dtype == DType::Q4_0) PairedRows<BlockQ4_0>(w, x, t, y, row_begin, row_end);
    else PairedRows<BlockQ8_0>(w, x, t, y, row_begin, row_end);
#endif
    const auto dot = w.dtype == DType::Q4_0 ? DotBlocks32<DType::Q4_0> : DotBlocks32<DType::Q8_0>;
    // Rows outer, in groups that stay in L1 for the remaining tokens: a few-token pass
    // (speculative decoding's verify) reads the weights from memory once, not per token.
    const int64_t first_token = t;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += kRowBlock)
      for (t = first_token; t < x.n_tokens; ++t)
        for (int64_t r = r0; r < std::min(row_end, r0 + kRowBlock); ++r)
          y[t * w.rows + r] = dot(w.row(r), w.cols / 32, x.token_q16(t), x.token_scale(t));
    return;
  }
  // Decode unpacks and uses one row at a time; prefill unpacks a block of rows once and
  // sweeps the token tiles over it.
  thread_local UnpackedRow unpacked[kRowBlock];
  const int64_t block = x.n_tokens >= kTokenTile ? kRowBlock : 1;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += block) {
    const int64_t r1 = std::min(row_end, r0 + block);
    for (int64_t r = r0; r < r1; ++r) UnpackRow(w, r, unpacked[r - r0]);
    int64_t t = 0;
    for (; t + kTokenTile <= x.n_tokens; t += kTokenTile)
      for (int64_t r = r0; r < r1; ++r) QuantRowTile<kTokenTile>(unpacked[r - r0], x, t, y + t * w.rows + r, w.rows);
    for (; t < x.n_tokens; ++t)
      for (int64_t r = r0; r < r1; ++r) QuantRowTile<1>(unpacked[r - r0], x, t, y + t * w.rows + r, w.rows);
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

// QuantRows reads q16 / q_paired for every type except those QuantRowsNative hands to the
// VNNI kernels.
bool NeedsWidenedActivations(DType weights) {
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX3_DL
  return !(weights == DType::Q8_0 || weights == DType::Q4_0 || weights == DType::Q4_K || weights == DType::Q6_K);
#else
  (void)weights;
  return true;
#endif
}

bool ReadsPackedWeights(DType weights) {
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX3_DL
  return weights == DType::Q4_0 || weights == DType::Q8_0 || weights == DType::Q4_K || weights == DType::Q6_K;
#else
  (void)weights;
  return false;
#endif
}

// The x86 byte kernels for every quantized type, whichever kernel QuantRows prefers; false
// where this target has none (tests check them on machines without VNNI this way).
bool QuantRowsBytesForTest(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                           int64_t row_end) {
#if FACET_X86_BYTE_KERNELS
  return QuantRowsBytes(w, x, y, row_begin, row_end);
#else
  (void)w, (void)x, (void)y, (void)row_begin, (void)row_end;
  return false;
#endif
}

// Tokens [first, first + count): per block of 32, scale = max|x| / 127 and
// q = round-to-nearest-even(x * 127 / max|x|), as the scalar definition in matmul_simd.h.
void QuantizeActivations(const float* x, int64_t first, int64_t count, QuantizedActivations& out) {
  const hn::CappedTag<float, 16> df;  // divides 16 on every target: a vector never spans two halves
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const hn::Rebind<int16_t, decltype(df)> d16;
  const size_t N = hn::Lanes(df);
  const int64_t cols = out.cols, n_blocks = cols / kActivationBlock;
  for (int64_t t = first; t < first + count; ++t) {
    for (int64_t b = 0; b < n_blocks; ++b) {
      const float* v = x + t * cols + b * kActivationBlock;
      auto vmax = hn::Zero(df);
      for (size_t i = 0; i < kActivationBlock; i += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(df, v + i)));
      const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
      const float scale = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
      const auto vinv = hn::Set(df, inv);
      int8_t* q = out.q.data() + t * cols + b * kActivationBlock;
      int8_t* paired = out.widened ? out.q_paired.data() + t * cols + b * kActivationBlock : nullptr;
      int16_t* q16 = out.widened ? out.q16.data() + t * cols + b * kActivationBlock : nullptr;
      // Σ q of each 16-element half (integers: exact in any order).
      int32_t half_sums[2] = {0, 0};
      for (size_t i = 0; i < kActivationBlock; i += N) {
        const auto qi = hn::NearestInt(hn::Mul(hn::LoadU(df, v + i), vinv));
        half_sums[i / 16] += hn::GetLane(hn::SumOfLanes(di, qi));
        hn::StoreU(hn::DemoteTo(d8, qi), d8, q + i);
        if (out.widened) hn::StoreU(hn::DemoteTo(d16, qi), d16, q16 + i);
      }
      out.qsum16[static_cast<size_t>((t * n_blocks + b) * 2)] = half_sums[0];
      out.qsum16[static_cast<size_t>((t * n_blocks + b) * 2 + 1)] = half_sums[1];
      if (out.widened)
        for (int l = 0; l < 8; ++l) {
          paired[4 * l] = q[2 * l];
          paired[4 * l + 1] = q[2 * l + 1];
          paired[4 * l + 2] = q[16 + 2 * l];
          paired[4 * l + 3] = q[17 + 2 * l];
        }
      const int32_t qsum = half_sums[0] + half_sums[1];
      out.scale[static_cast<size_t>(t * n_blocks + b)] = scale;
      out.qsum[static_cast<size_t>(t * n_blocks + b)] = qsum;
      out.scaled_sum[static_cast<size_t>(t * n_blocks + b)] = scale * static_cast<float>(qsum);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace facet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace facet {

HWY_EXPORT(QuantRows);
HWY_EXPORT(TargetName);
HWY_EXPORT(QuantizeActivations);
HWY_EXPORT(QuantRowsBytesForTest);
HWY_EXPORT(NeedsWidenedActivations);
HWY_EXPORT(ReadsPackedWeights);

bool matmul_reads_packed_weights(DType weights) { return HWY_DYNAMIC_DISPATCH(ReadsPackedWeights)(weights); }

bool matmul_needs_widened_activations(DType weights) {
  return HWY_DYNAMIC_DISPATCH(NeedsWidenedActivations)(weights);
}

bool matmul_quantized_bytes_for_test(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  QuantizedActivations xq;
  prepare_activations(n_tokens, w.cols, w.dtype, xq);
  xq.widened = true;  // the byte kernels below, not the ones the dispatcher prefers
  xq.q16.resize(static_cast<size_t>(n_tokens * w.cols));
  xq.q_paired.resize(xq.q16.size());
  quantize_activations(x, 0, n_tokens, xq);
  return HWY_DYNAMIC_DISPATCH(QuantRowsBytesForTest)(w, xq, y, 0, w.rows);
}

void quantize_activations(const float* x, int64_t first, int64_t count, QuantizedActivations& out) {
  HWY_DYNAMIC_DISPATCH(QuantizeActivations)(x, first, count, out);
}

void matmul_rows_quantized(const WeightMatrix& w, const QuantizedActivations& x, float* y, int64_t row_begin,
                           int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(QuantRows)(w, x, y, row_begin, row_end);
}

const char* matmul_simd_target() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

// Evaluated here, where HWY_TARGETS is this file's target list.
std::vector<int64_t> matmul_simd_targets() { return hwy::SupportedAndGeneratedTargets(); }

}  // namespace facet
#endif  // HWY_ONCE
