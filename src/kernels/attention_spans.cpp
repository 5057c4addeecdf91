#include "kernels/attention_spans.h"

#include <algorithm>

#include "kernels/attention_rows.h"
#include "kernels/elementwise.h"
#include "tensor/convert.h"

namespace facet {
namespace {

// Rows converted per chunk: about 64 KB of f32 values, so a chunk of K (or V) stays in L2
// between its conversion and its use.
int64_t chunk_rows(int64_t D) { return std::max<int64_t>(4, (16 * 1024) / std::max<int64_t>(D, 1)); }

// Columns [offset, offset + n) of `rows` stored rows into dst (n floats apart). Block types
// decode whole blocks: a slice that does not start and end on block edges (a head size
// that is not a multiple of 32) decodes whole rows and keeps the slice.
void convert_rows(DType type, const uint8_t* src, size_t stride, int64_t rows, int64_t offset, int64_t n, float* dst,
                  int64_t row_length) {
  const int64_t block = dtype_info(type).block_size;
  if (offset % block == 0 && n % block == 0) {
    const size_t skip = dtype_row_bytes(type, offset);
    for (int64_t i = 0; i < rows; ++i) row_to_f32(type, src + static_cast<size_t>(i) * stride + skip, dst + i * n, n);
    return;
  }
  thread_local std::vector<float> whole;
  whole.resize(static_cast<size_t>(row_length));
  for (int64_t i = 0; i < rows; ++i) {
    row_to_f32(type, src + static_cast<size_t>(i) * stride, whole.data(), row_length);
    std::copy(whole.begin() + offset, whole.begin() + offset + n, dst + i * n);
  }
}

// Calls use(values, stride, j, rows) for runs of rows [first, last) of one side (K or V) of
// the spans, j = the run's first row among all spans' rows; f32 rows in place, others
// converted into `buffer` a chunk at a time (columns [offset, offset + n)).
template <typename Use>
void for_row_runs(std::span<const KvRowSpan> spans, bool keys, int64_t offset, int64_t n, int64_t first, int64_t last,
                  std::vector<float>& buffer, Use&& use) {
  const int64_t chunk = chunk_rows(n);
  int64_t j = 0;  // the span's first row among all rows
  for (const KvRowSpan& s : spans) {
    const int64_t lo = std::max(first, j), hi = std::min(last, j + s.count);
    const uint8_t* base = keys ? s.k : s.v;
    const size_t stride = keys ? s.k_stride : s.v_stride;
    const DType type = keys ? s.k_type : s.v_type;
    if (lo < hi && type == DType::F32) {
      use(reinterpret_cast<const float*>(base + static_cast<size_t>(lo - j) * stride) + offset,
          static_cast<int64_t>(stride / sizeof(float)), lo, hi - lo);
    } else if (lo < hi) {
      buffer.resize(static_cast<size_t>(chunk * n));
      for (int64_t i = lo; i < hi; i += chunk) {
        const int64_t rows = std::min(chunk, hi - i);
        convert_rows(type, base + static_cast<size_t>(i - j) * stride, stride, rows, offset, n, buffer.data(),
                     s.row_length);
        use(buffer.data(), n, i, rows);
      }
    }
    j += s.count;
  }
}

int64_t span_rows(std::span<const KvRowSpan> spans) {
  int64_t total = 0;
  for (const KvRowSpan& s : spans) total += s.count;
  return total;
}

// scores[h * scores_stride + i - first] = q_h . K_i for the rows i in [first, last).
void span_scores(const float* q, int n_q, std::span<const KvRowSpan> spans, int64_t offset, int64_t D, int64_t first,
                 int64_t last, float* scores, int64_t scores_stride) {
  thread_local std::vector<float> buffer;
  for_row_runs(spans, true, offset, D, first, last, buffer, [&](const float* k, int64_t stride, int64_t j, int64_t rows) {
    dot_f32_queries(q, D, n_q, k, stride, rows, D, scores + (j - first), scores_stride);
  });
}

// out[h * out_stride + d] += p[h * p_stride + i - first] * V_i[offset + d] for the rows i in
// [first, last) in order, d < n.
void span_weighted_sum(const float* p, int64_t p_stride, int n_q, std::span<const KvRowSpan> spans, int64_t offset,
                       int64_t n, int64_t first, int64_t last, float* out, int64_t out_stride) {
  thread_local std::vector<float> buffer;
  for_row_runs(spans, false, offset, n, first, last, buffer, [&](const float* v, int64_t stride, int64_t j, int64_t rows) {
    accumulate_weighted_rows(p + (j - first), p_stride, n_q, v, stride, rows, n, out, out_stride);
  });
}

}  // namespace

KvRowSpan f32_row_span(const float* k, const float* v, int64_t count, int64_t stride) {
  const size_t bytes = static_cast<size_t>(stride) * sizeof(float);
  return {reinterpret_cast<const uint8_t*>(k), reinterpret_cast<const uint8_t*>(v), count, bytes, bytes,
          DType::F32, DType::F32, stride};
}

void attend_spans(const float* q, int n_q, std::span<const KvRowSpan> spans, int64_t offset, int64_t D,
                  std::vector<float>& scores, float* out) {
  const int64_t total = span_rows(spans);
  scores.resize(static_cast<size_t>(n_q * total));
  span_scores(q, n_q, spans, offset, D, 0, total, scores.data(), total);
  for (int h = 0; h < n_q; ++h) softmax(&scores[static_cast<size_t>(h * total)], total);
  std::fill(out, out + n_q * D, 0.0f);
  span_weighted_sum(scores.data(), total, n_q, spans, offset, D, 0, total, out, D);
}

void attend_token_block(const float* q, int64_t q_token_stride, int n_tokens, int n_q,
                        std::span<const KvRowSpan> rows, const int64_t* window_first, const int64_t* window_end,
                        int64_t offset, int64_t D, float* out, int64_t out_token_stride) {
  int64_t u0 = window_first[0], u1 = window_end[0];  // the union of the windows
  for (int t = 1; t < n_tokens; ++t) {
    u0 = std::min(u0, window_first[t]);
    u1 = std::max(u1, window_end[t]);
  }
  const int64_t U = u1 - u0, n_queries = static_cast<int64_t>(n_tokens) * n_q;
  thread_local std::vector<float> queries, scores, outputs;
  queries.resize(static_cast<size_t>(n_queries * D));
  for (int t = 0; t < n_tokens; ++t)
    std::copy(q + t * q_token_stride, q + t * q_token_stride + n_q * D, &queries[static_cast<size_t>(t * n_q * D)]);

  // Every query against every row of the union: each K row is read once for the block.
  scores.resize(static_cast<size_t>(n_queries * U));
  span_scores(queries.data(), static_cast<int>(n_queries), rows, offset, D, u0, u1, scores.data(), U);
  for (int t = 0; t < n_tokens; ++t)
    for (int h = 0; h < n_q; ++h)
      softmax(&scores[static_cast<size_t>((t * n_q + h) * U + (window_first[t] - u0))], window_end[t] - window_first[t]);

  // The weighted sum between consecutive window edges, where each token either sees every
  // row or none: the tokens that see them, in runs of consecutive tokens, take the rows
  // together (each V row read once per run); every output element still adds its rows in
  // order, from zero, as attend_spans does.
  outputs.assign(static_cast<size_t>(n_queries * D), 0.0f);
  std::vector<int64_t> edges;
  for (int t = 0; t < n_tokens; ++t) {
    edges.push_back(window_first[t]);
    edges.push_back(window_end[t]);
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  for (size_t e = 0; e + 1 < edges.size(); ++e) {
    const int64_t b0 = edges[e], b1 = edges[e + 1];
    for (int t = 0; t < n_tokens;) {
      if (window_first[t] > b0 || window_end[t] < b1) {
        ++t;
        continue;
      }
      int run_end = t + 1;
      while (run_end < n_tokens && window_first[run_end] <= b0 && window_end[run_end] >= b1) ++run_end;
      const int64_t first_query = static_cast<int64_t>(t) * n_q;
      span_weighted_sum(&scores[static_cast<size_t>(first_query * U + (b0 - u0))], U, (run_end - t) * n_q, rows,
                        offset, D, b0, b1, &outputs[static_cast<size_t>(first_query * D)], D);
      t = run_end;
    }
  }
  for (int t = 0; t < n_tokens; ++t)
    std::copy(&outputs[static_cast<size_t>(t * n_q * D)], &outputs[static_cast<size_t>((t + 1) * n_q * D)],
              out + t * out_token_stride);
}

}  // namespace facet
