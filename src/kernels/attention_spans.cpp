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

}  // namespace

KvRowSpan f32_row_span(const float* k, const float* v, int64_t count, int64_t stride) {
  const size_t bytes = static_cast<size_t>(stride) * sizeof(float);
  return {reinterpret_cast<const uint8_t*>(k), reinterpret_cast<const uint8_t*>(v), count, bytes, bytes,
          DType::F32, DType::F32, stride};
}

static int64_t span_rows(std::span<const KvRowSpan> spans) {
  int64_t total = 0;
  for (const KvRowSpan& s : spans) total += s.count;
  return total;
}

static void span_scores(const float* q, int n_q, std::span<const KvRowSpan> spans, int64_t offset, int64_t D, int64_t first,
                 int64_t last, float* scores, int64_t scores_stride) {
  thread_local std::vector<float> buffer;
  for_row_runs(spans, true, offset, D, first, last, buffer, [&](const float* k, int64_t stride, int64_t j, int64_t rows) {
    dot_f32_queries(q, D, n_q, k, stride, rows, D, scores + j, scores_stride);
  });
}

static void span_weighted_sum(const float* p, int64_t p_stride, int n_q, std::span<const KvRowSpan> spans, int64_t offset,
                       int64_t n, float* out, int64_t out_stride) {
  thread_local std::vector<float> buffer;
  for_row_runs(spans, false, offset, n, 0, span_rows(spans), buffer,
               [&](const float* v, int64_t stride, int64_t j, int64_t rows) {
                 accumulate_weighted_rows(p + j, p_stride, n_q, v, stride, rows, n, out, out_stride);
               });
}

void attend_spans(const float* q, int n_q, std::span<const KvRowSpan> spans, int64_t offset, int64_t D,
                  std::vector<float>& scores, float* out) {
  const int64_t total = span_rows(spans);
  scores.resize(static_cast<size_t>(n_q * total));
  span_scores(q, n_q, spans, offset, D, 0, total, scores.data(), total);
  for (int h = 0; h < n_q; ++h) softmax(&scores[static_cast<size_t>(h * total)], total);
  std::fill(out, out + n_q * D, 0.0f);
  span_weighted_sum(scores.data(), total, n_q, spans, offset, D, out, D);
}

}  // namespace facet
