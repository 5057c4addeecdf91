// attend_spans (attention over cached K/V rows as the cache stores them, in spans): for
// every cache type, against a double-precision attention written here over the rows'
// stored values, and bit-identical to what the decoder did before it (the whole window
// converted to f32 first, then the f32 kernels over it), on windows longer than one
// conversion chunk, split into spans as a ring wrap and a batch split them, and on the
// second KV head of a row (an offset into each row).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention_rows.h"
#include "kernels/attention_spans.h"
#include "kernels/elementwise.h"
#include "tensor/convert.h"

namespace facet {
namespace {

// Rows of `row` values stored as `type`, and their stored values back in f32.
struct StoredRows {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  size_t stride = 0;
};

StoredRows store(DType type, int64_t count, int64_t row, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(count * row));
  for (float& x : f) x = dist(rng);
  StoredRows s;
  s.stride = dtype_row_bytes(type, row);
  s.bytes.resize(static_cast<size_t>(count) * s.stride);
  s.values.resize(f.size());
  for (int64_t i = 0; i < count; ++i) {
    row_from_f32(type, &f[static_cast<size_t>(i * row)], &s.bytes[static_cast<size_t>(i) * s.stride], row);
    row_to_f32(type, &s.bytes[static_cast<size_t>(i) * s.stride], &s.values[static_cast<size_t>(i * row)], row);
  }
  return s;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(KernelAttentionSpans, EveryCacheTypeMatchesDoubleAttentionAndTheWholeWindowPathBitForBit) {
  std::mt19937 rng(21);
  const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};
  struct Shape {
    int heads;
    int64_t D, cached, batch;
  };
  // D = 256: 64-row chunks, so 150 cached rows take three; D = 32: one chunk.
  // D = 48: a head that is not whole blocks of the block types (its slice of the row is not
  // block-aligned).
  const Shape shapes[] = {{8, 256, 150, 1}, {4, 32, 70, 3}, {1, 64, 5, 0}, {2, 512, 33, 2}, {3, 48, 40, 1}};
  for (DType type : types) {
    for (const Shape& sh : shapes) {
      const int64_t row = 2 * sh.D, offset = sh.D;  // two KV heads per row: attend with the second
      const StoredRows k = store(type, sh.cached, row, rng), v = store(type, sh.cached, row, rng);
      std::normal_distribution<float> dist(0.0f, 1.0f);
      std::vector<float> batch_k(static_cast<size_t>(sh.batch * row)), batch_v(batch_k.size());
      for (float& x : batch_k) x = dist(rng);
      for (float& x : batch_v) x = dist(rng);
      std::vector<float> q(static_cast<size_t>(sh.heads * sh.D));
      for (float& x : q) x = dist(rng) * 0.2f;

      // A ring wrap splits the cached rows in two; the batch rows come last.
      const int64_t split = sh.cached / 3;
      std::vector<KvRowSpan> spans = {
          {k.bytes.data(), v.bytes.data(), split, k.stride, v.stride, type, type, row},
          {k.bytes.data() + split * k.stride, v.bytes.data() + split * v.stride, sh.cached - split, k.stride,
           v.stride, type, type, row}};
      if (sh.batch > 0) spans.push_back(f32_row_span(batch_k.data(), batch_v.data(), sh.batch, row));
      std::vector<float> out(static_cast<size_t>(sh.heads * sh.D)), scratch;
      attend_spans(q.data(), sh.heads, spans, offset, sh.D, scratch, out.data());

      const int64_t total = sh.cached + sh.batch;

      // Every row's values in f32, in order (the stored values, then the batch's).
      std::vector<float> all_k(k.values), all_v(v.values);
      all_k.insert(all_k.end(), batch_k.begin(), batch_k.end());
      all_v.insert(all_v.end(), batch_v.begin(), batch_v.end());

      // The whole-window path: f32 kernels over the converted window.
      std::vector<float> scores(static_cast<size_t>(sh.heads * total)), whole(out.size(), 0.0f);
      dot_f32_queries(q.data(), sh.D, sh.heads, all_k.data() + offset, row, total, sh.D, scores.data(), total);
      for (int h = 0; h < sh.heads; ++h) softmax(&scores[static_cast<size_t>(h * total)], total);
      accumulate_weighted_rows(scores.data(), total, sh.heads, all_v.data() + offset, row, total, sh.D,
                               whole.data(), sh.D);

      for (int h = 0; h < sh.heads; ++h) {
        std::vector<double> s(static_cast<size_t>(total));
        double max_s = -1e300;
        for (int64_t i = 0; i < total; ++i) {
          double dot = 0;
          for (int64_t d = 0; d < sh.D; ++d)
            dot += static_cast<double>(q[static_cast<size_t>(h * sh.D + d)]) * all_k[static_cast<size_t>(i * row + offset + d)];
          s[static_cast<size_t>(i)] = dot;
          max_s = std::max(max_s, dot);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - max_s));
        for (int64_t d = 0; d < sh.D; ++d) {
          double want = 0;
          for (int64_t i = 0; i < total; ++i)
            want += s[static_cast<size_t>(i)] / sum * all_v[static_cast<size_t>(i * row + offset + d)];
          const float got = out[static_cast<size_t>(h * sh.D + d)];
          ASSERT_NEAR(got, want, 2e-5 * (1 + std::fabs(want)))
              << dtype_name(type) << " D " << sh.D << " head " << h << " d " << d;
          ASSERT_TRUE(same_bits(got, whole[static_cast<size_t>(h * sh.D + d)]))
              << dtype_name(type) << " D " << sh.D << " head " << h << " d " << d;

        }
      }
    }
  }
}

// Rows [first, end) of the spans, as spans.
std::vector<KvRowSpan> slice(const std::vector<KvRowSpan>& spans, int64_t first, int64_t end) {
  std::vector<KvRowSpan> out;
  int64_t j = 0;
  for (const KvRowSpan& s : spans) {
    const int64_t lo = std::max(first, j), hi = std::min(end, j + s.count);
    if (lo < hi) {
      KvRowSpan part = s;
      part.k += static_cast<size_t>(lo - j) * s.k_stride;
      part.v += static_cast<size_t>(lo - j) * s.v_stride;
      part.count = hi - lo;
      out.push_back(part);
    }
    j += s.count;
  }
  return out;
}

// attend_token_block against attend_spans token by token over each token's own rows, bit for
// bit: causal windows (one start, growing ends), sliding ones (both ends moving), an image
// block (several tokens with the same end, seeing rows after their own), and windows that
// are not nested at all; f32 and f16 rows, a ring split, head counts 1-8, two KV heads per row.
TEST(KernelAttentionSpans, TokenBlocksGiveEachTokensOwnAttentionBitForBit) {
  std::mt19937 rng(22);
  struct Case {
    std::vector<int64_t> first, end;
    int n_q;
    int64_t D;
  };
  const std::vector<Case> cases = {
      {{0, 0, 0, 0}, {37, 38, 39, 40}, 8, 256},                      // causal
      {{20, 21, 22, 23, 24}, {36, 37, 38, 39, 40}, 4, 64},           // sliding (16 rows)
      {{3, 3, 3, 3, 7, 8}, {9, 12, 12, 12, 13, 14}, 2, 32},          // an image block (rows 9-11)
      {{5, 0, 30, 12}, {20, 40, 35, 13}, 3, 48},                     // anything
      {{0}, {1}, 1, 32},                                             // one token, one row
      {{0, 1, 2, 3, 4, 5, 6, 7, 8}, {70, 71, 72, 73, 74, 75, 76, 77, 78}, 8, 128},
  };
  for (DType type : {DType::F32, DType::F16}) {
    for (const Case& c : cases) {
      const int n_tokens = static_cast<int>(c.first.size());
      int64_t total = 0;
      for (int64_t e : c.end) total = std::max(total, e);
      const int64_t row = 2 * c.D, offset = c.D;
      const StoredRows k = store(type, total, row, rng), v = store(type, total, row, rng);
      const int64_t split = total / 2;  // a ring wrap
      const std::vector<KvRowSpan> spans = {
          {k.bytes.data(), v.bytes.data(), split, k.stride, v.stride, type, type, row},
          {k.bytes.data() + split * k.stride, v.bytes.data() + split * v.stride, total - split, k.stride, v.stride,
           type, type, row}};
      std::normal_distribution<float> dist(0.0f, 0.3f);
      const int64_t q_stride = c.n_q * c.D + 5, out_stride = c.n_q * c.D + 3;  // strided tokens
      std::vector<float> q(static_cast<size_t>(n_tokens * q_stride));
      for (float& x : q) x = dist(rng);
      std::vector<float> out(static_cast<size_t>(n_tokens * out_stride), -9.0f);
      attend_token_block(q.data(), q_stride, n_tokens, c.n_q, spans, c.first.data(), c.end.data(), offset, c.D,
                         out.data(), out_stride);
      for (int t = 0; t < n_tokens; ++t) {
        const std::vector<KvRowSpan> own = slice(spans, c.first[static_cast<size_t>(t)], c.end[static_cast<size_t>(t)]);
        std::vector<float> want(static_cast<size_t>(c.n_q * c.D)), scratch;
        attend_spans(&q[static_cast<size_t>(t * q_stride)], c.n_q, own, offset, c.D, scratch, want.data());
        for (int64_t i = 0; i < c.n_q * c.D; ++i)
          ASSERT_TRUE(same_bits(out[static_cast<size_t>(t * out_stride + i)], want[static_cast<size_t>(i)]))
              << dtype_name(type) << " tokens " << n_tokens << " token " << t << " element " << i;
        for (int64_t i = c.n_q * c.D; i < out_stride; ++i)
          ASSERT_EQ(out[static_cast<size_t>(t * out_stride + i)], -9.0f) << "wrote past a token's outputs";
      }
    }
  }
}

}  // namespace
}  // namespace facet
