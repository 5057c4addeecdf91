#include "kernels/attention_rows.h"

#include <cstring>
#include <vector>

#include "kernels/matmul.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define FACET_ATTENTION_AVX512 1
#endif

// Float8 values are passed only to always-inlined helpers (see load8), never across a real
// call, so GCC's note that their ABI differs with and without AVX does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace facet {
namespace {

// Eight floats as one value (GCC/Clang vector extension): exactly dot_f32's
// eight partial sums. The compiler's own vectorisation of an array of partial
// sums kept them in memory (measured slower than one dot product at a time);
// vector values stay in registers.
typedef float Float8 __attribute__((vector_size(32)));
typedef float Float16 __attribute__((vector_size(64)));

// Always inlined into the kernels below, so no Float8 crosses a call (whose ABI
// would differ between the AVX2 and baseline builds of a kernel: GCC's -Wpsabi
// note).
__attribute__((always_inline)) inline Float8 load8(const float* p) {
  Float8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

__attribute__((always_inline)) inline void store8(float* p, Float8 v) { std::memcpy(p, &v, sizeof v); }
__attribute__((always_inline)) inline Float16 load16(const float* p) {
  Float16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
__attribute__((always_inline)) inline void store16(float* p, Float16 v) { std::memcpy(p, &v, sizeof v); }

constexpr int kPairs = 4;  // dot products in flight

// Each kernel is compiled twice, for AVX2 (one 256-bit register per Float8) and
// for the baseline (two 128-bit halves), and the loader picks one for the CPU
// at hand; accumulate_weighted_rows also for AVX-512. The file is compiled with
// -ffp-contract=off (AVX-512 brings FMA), so a product and a sum stay two
// roundings, as in dot_f32.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FACET_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#define FACET_AVX512_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FACET_AVX2_CLONES
#define FACET_AVX512_CLONES
#endif

#ifdef FACET_ATTENTION_AVX512
// dot_f32_queries for an even number of heads on AVX-512: one 512-bit register
// holds dot_f32's eight partial sums of two heads against the same key (the
// heads' queries interleaved 8 and 8 once per call, the key's 8 values
// broadcast to both halves), so each instruction does two heads' work with the
// same per-lane arithmetic.
// The 8 floats at p in both halves (vbroadcastf64x4: AVX-512F, where f32x8 needs DQ).
__attribute__((target("avx512f"), always_inline)) inline __m512 Broadcast8(const float* p) {
  return _mm512_castpd_ps(_mm512_maskz_broadcast_f64x4(0xFF, _mm256_castps_pd(_mm256_loadu_ps(p))));
}

__attribute__((target("avx512f"))) void dot_f32_head_pairs(const float* q, int64_t q_stride, int n_queries,
                                                           const float* k, int64_t k_stride, int64_t count, int64_t n,
                                                           float* scores, int64_t scores_stride) {
  const int n_pairs = n_queries / 2;
  const int64_t n8 = n / 8 * 8;
  thread_local std::vector<float> paired;  // [pair][e / 8][head of pair][8]
  paired.resize(static_cast<size_t>(n_pairs * 2 * n8));
  for (int hp = 0; hp < n_pairs; ++hp)
    for (int64_t e = 0; e < n8; e += 8)
      for (int j = 0; j < 2; ++j)
        std::memcpy(&paired[static_cast<size_t>(hp * 2 * n8 + 2 * e + 8 * j)], q + (2 * hp + j) * q_stride + e,
                    8 * sizeof(float));
  // (pair, key) items key-major, four in flight as in the generic kernel.
  const int64_t total = count * n_pairs;
  for (int64_t f = 0; f < total; f += kPairs) {
    const int live = static_cast<int>(total - f < kPairs ? total - f : kPairs);
    __m512 acc[kPairs];
    const float* qs[kPairs];
    const float* ks[kPairs];
    int64_t key[kPairs];
    int head[kPairs];
    for (int p = 0; p < kPairs; ++p) {
      const int64_t item = f + (p < live ? p : 0);
      key[p] = item / n_pairs;
      head[p] = 2 * static_cast<int>(item % n_pairs);
      qs[p] = paired.data() + (head[p] / 2) * 2 * n8;
      ks[p] = k + key[p] * k_stride;
      acc[p] = _mm512_setzero_ps();
    }
    for (int64_t e = 0; e < n8; e += 8)
      for (int p = 0; p < kPairs; ++p)
        acc[p] = _mm512_add_ps(acc[p], _mm512_mul_ps(_mm512_loadu_ps(qs[p] + 2 * e),
                                                     Broadcast8(ks[p] + e)));
    for (int p = 0; p < live; ++p) {
      alignas(64) float a[16];
      _mm512_store_ps(a, acc[p]);
      for (int j = 0; j < 2; ++j) {
        const float* qh = q + (head[p] + j) * q_stride;
        const float* h = a + 8 * j;
        float tail = 0;
        for (int64_t t = n8; t < n; ++t) tail += qh[t] * ks[p][t];
        scores[(head[p] + j) * scores_stride + key[p]] = ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7])) + tail;
      }
    }
  }
}
#endif

}  // namespace

static FACET_AVX2_CLONES void dot_f32_queries_generic(const float* q, int64_t q_stride, int n_queries, const float* k,
                                               int64_t k_stride, int64_t count, int64_t n, float* scores,
                                               int64_t scores_stride) {
  // (head, key) pairs in the order key-major, head-minor: the heads of one key
  // row come together, so the row is loaded from memory once and meets them
  // from L1.
  const int64_t total = count * n_queries;
  int64_t f = 0;
  for (; f + kPairs <= total; f += kPairs) {
    const float* qs[kPairs];
    const float* ks[kPairs];
    float* out[kPairs];
    for (int p = 0; p < kPairs; ++p) {
      const int64_t key = (f + p) / n_queries, head = (f + p) % n_queries;
      qs[p] = q + head * q_stride;
      ks[p] = k + key * k_stride;
      out[p] = scores + head * scores_stride + key;
    }
    // dot_f32's eight partial sums of each pair.
    Float8 acc[kPairs] = {};
    int64_t e = 0;
    for (; e + 8 <= n; e += 8)
      for (int p = 0; p < kPairs; ++p) acc[p] += load8(qs[p] + e) * load8(ks[p] + e);
    for (int p = 0; p < kPairs; ++p) {
      float tail = 0;
      for (int64_t t = e; t < n; ++t) tail += qs[p][t] * ks[p][t];
      const Float8& a = acc[p];
      *out[p] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail;
    }
  }
  for (; f < total; ++f) {
    const int64_t key = f / n_queries, head = f % n_queries;
    scores[head * scores_stride + key] = dot_f32(q + head * q_stride, k + key * k_stride, n);
  }
}

void dot_f32_queries(const float* q, int64_t q_stride, int n_queries, const float* k, int64_t k_stride, int64_t count,
                     int64_t n, float* scores, int64_t scores_stride) {
#ifdef FACET_ATTENTION_AVX512
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && n_queries % 2 == 0 && n >= 8) {
    dot_f32_head_pairs(q, q_stride, n_queries, k, k_stride, count, n, scores, scores_stride);
    return;
  }
#endif
  dot_f32_queries_generic(q, q_stride, n_queries, k, k_stride, count, n, scores, scores_stride);
}

FACET_AVX512_CLONES void accumulate_weighted_rows(const float* p, int64_t p_stride, int n_queries, const float* v,
                                                int64_t v_stride, int64_t count, int64_t n, float* out,
                                                int64_t out_stride) {
  int64_t i = 0;
  // Four value rows per pass over each head's output (one load and store of an
  // element per four rows); the four rows stay in L1 while every head takes
  // them.
  for (; i + 4 <= count; i += 4) {
    const float *v0 = v + i * v_stride, *v1 = v0 + v_stride, *v2 = v1 + v_stride, *v3 = v2 + v_stride;
    for (int h = 0; h < n_queries; ++h) {
      const float* ph = p + h * p_stride + i;
      const float p0 = ph[0], p1 = ph[1], p2 = ph[2], p3 = ph[3];
      float* o = out + h * out_stride;
      int64_t d = 0;
      // Every element is its own chain of the four terms: wider vectors change no rounding.
      for (; d + 16 <= n; d += 16)
        store16(o + d, (((load16(o + d) + p0 * load16(v0 + d)) + p1 * load16(v1 + d)) + p2 * load16(v2 + d)) +
                           p3 * load16(v3 + d));
      for (; d + 8 <= n; d += 8)
        store8(o + d,
               (((load8(o + d) + p0 * load8(v0 + d)) + p1 * load8(v1 + d)) + p2 * load8(v2 + d)) + p3 * load8(v3 + d));
      for (; d < n; ++d) o[d] = (((o[d] + p0 * v0[d]) + p1 * v1[d]) + p2 * v2[d]) + p3 * v3[d];
    }
  }
  for (; i < count; ++i) {
    const float* row = v + i * v_stride;
    for (int h = 0; h < n_queries; ++h) {
      const float ph = p[h * p_stride + i];
      float* o = out + h * out_stride;
      for (int64_t d = 0; d < n; ++d) o[d] += ph * row[d];
    }
  }
}

}  // namespace facet
