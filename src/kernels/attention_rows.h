// Inner loops of attention over a run of cached key/value rows, for several
// query heads that share one KV head (grouped-query attention: E2B has 8 query
// heads per KV head).
//
// Each key and value row is read once for all those heads, not once per head,
// and the dot products are computed four at a time: one dot product alone is a
// chain of dependent additions (its latency, not the arithmetic, sets the
// speed); four give the CPU four independent chains. Each (head, key) score
// still gets exactly dot_f32's operations in dot_f32's order, and each output
// element its value terms in key order, so the results are bit-identical to one
// head and one key at a time.
#pragma once

#include <cstdint>

namespace facet {

// scores[h * scores_stride + i] = dot_f32(q + h * q_stride, k + i * k_stride,
// n) for h < n_queries, i < count.
void dot_f32_queries(const float* q, int64_t q_stride, int n_queries, const float* k, int64_t k_stride, int64_t count,
                     int64_t n, float* scores, int64_t scores_stride);

// out[h * out_stride + d] += p[h * p_stride + i] * v[i * v_stride + d] for i =
// 0, 1, ..., count - 1 in turn, h < n_queries, d < n.
void accumulate_weighted_rows(const float* p, int64_t p_stride, int n_queries, const float* v, int64_t v_stride,
                              int64_t count, int64_t n, float* out, int64_t out_stride);

}  // namespace facet
