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

}  // namespace
}  // namespace facet
