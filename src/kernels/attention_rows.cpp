#include "kernels/attention_rows.h"

#include <cstring>

#include "kernels/matmul.h"

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

// Always inlined into the kernels below, so no Float8 crosses a call (whose ABI
// would differ between the AVX2 and baseline builds of a kernel: GCC's -Wpsabi
// note).
__attribute__((always_inline)) inline Float8 load8(const float* p) {
  Float8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

__attribute__((always_inline)) inline void store8(float* p, Float8 v) { std::memcpy(p, &v, sizeof v); }

constexpr int kPairs = 4;  // dot products in flight

// Each kernel is compiled twice, for AVX2 (one 256-bit register per Float8) and
// for the baseline (two 128-bit halves), and the loader picks one for the CPU
// at hand. Neither target has FMA, so a product and a sum stay two roundings,
// as in dot_f32.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FACET_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FACET_AVX2_CLONES
#endif

}  // namespace

FACET_AVX2_CLONES void dot_f32_queries(const float* q, int64_t q_stride, int n_queries, const float* k,
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

FACET_AVX2_CLONES void accumulate_weighted_rows(const float* p, int64_t p_stride, int n_queries, const float* v,
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
