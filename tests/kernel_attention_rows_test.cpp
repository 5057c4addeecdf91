// dot_f32_queries and accumulate_weighted_rows (attention's inner loops over
// cached rows, for the query heads that share a KV head): against a
// double-precision sum written here, and bit-identical to the one-head, one-row
// loops they replace (dot_f32 per head and key; out[d] += p * v[d] key after
// key), on head counts 1-8 (4 dot products are in flight, so pairs straddle
// keys), key counts around 4, widths around dot_f32's 8 partial sums, and
// strided rows as the KV cache lays them out (a head's slice of a wider row).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention_rows.h"
#include "kernels/matmul.h"

namespace facet {
namespace {

struct Case {
  int heads;
  int64_t count, n, stride;
};
const Case kCases[] = {{1, 0, 8, 8},     {1, 1, 1, 1},   {1, 3, 7, 9},   {1, 5, 9, 12},     {2, 3, 16, 16},
                       {3, 5, 9, 12},    {4, 4, 8, 8},   {5, 7, 16, 40}, {8, 13, 256, 512}, {8, 33, 512, 512},
                       {2, 9, 260, 300}, {6, 1, 24, 24}, {7, 11, 33, 35}};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::vector<float> random_values(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(KernelAttentionRows, ScoresMatchDoubleSumAndDotF32Exactly) {
  std::mt19937 rng(11);
  for (const Case& c : kCases) {
    const int64_t q_stride = c.n + 3, scores_stride = c.count + 2;
    const std::vector<float> q = random_values(static_cast<size_t>(c.heads * q_stride), rng);
    const std::vector<float> k = random_values(static_cast<size_t>(c.count * c.stride + c.n), rng);
    std::vector<float> scores(static_cast<size_t>(c.heads * scores_stride), -7.0f);
    dot_f32_queries(q.data(), q_stride, c.heads, k.data(), c.stride, c.count, c.n, scores.data(), scores_stride);
    for (int h = 0; h < c.heads; ++h) {
      const float* qh = q.data() + h * q_stride;
      for (int64_t i = 0; i < scores_stride; ++i) {
        const float got = scores[static_cast<size_t>(h * scores_stride + i)];
        if (i >= c.count) {
          EXPECT_EQ(got, -7.0f) << "wrote past count: head " << h << " entry " << i;
          continue;
        }
        const float* row = k.data() + i * c.stride;
        double want = 0, magnitude = 0;
        for (int64_t e = 0; e < c.n; ++e) {
          want += static_cast<double>(qh[e]) * row[e];
          magnitude += std::fabs(static_cast<double>(qh[e]) * row[e]);
        }
        EXPECT_NEAR(got, want, 1e-6 * magnitude + 1e-7)
            << "heads " << c.heads << " n " << c.n << " h " << h << " key " << i;
        EXPECT_TRUE(same_bits(got, dot_f32(qh, row, c.n)))
            << "heads " << c.heads << " n " << c.n << " h " << h << " key " << i;
      }
    }
  }
}

TEST(KernelAttentionRows, WeightedSumMatchesDoubleSumAndKeyByKeyLoopExactly) {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> prob(0.0f, 1.0f);
  for (const Case& c : kCases) {
    const int64_t p_stride = c.count + 1, out_stride = c.n + 2;
    std::vector<float> p(static_cast<size_t>(c.heads * p_stride));
    for (float& x : p) x = prob(rng);
    const std::vector<float> v = random_values(static_cast<size_t>(c.count * c.stride + c.n), rng);
    const std::vector<float> start = random_values(static_cast<size_t>(c.heads * out_stride), rng);
    std::vector<float> out = start;
    accumulate_weighted_rows(p.data(), p_stride, c.heads, v.data(), c.stride, c.count, c.n, out.data(), out_stride);
    for (int h = 0; h < c.heads; ++h) {
      const float* ph = p.data() + h * p_stride;
      std::vector<float> loop(start.begin() + h * out_stride, start.begin() + (h + 1) * out_stride);
      for (int64_t i = 0; i < c.count; ++i)
        for (int64_t d = 0; d < c.n; ++d)
          loop[static_cast<size_t>(d)] += ph[i] * v[static_cast<size_t>(i * c.stride + d)];
      for (int64_t d = 0; d < out_stride; ++d) {
        const size_t at = static_cast<size_t>(h * out_stride + d);
        if (d >= c.n) {
          EXPECT_EQ(out[at], start[at]) << "wrote past n: head " << h;
          continue;
        }
        double want = start[at], magnitude = std::fabs(want);
        for (int64_t i = 0; i < c.count; ++i) {
          const double term = static_cast<double>(ph[i]) * v[static_cast<size_t>(i * c.stride + d)];
          want += term;
          magnitude += std::fabs(term);
        }
        EXPECT_NEAR(out[at], want, 1e-6 * magnitude + 1e-7) << "heads " << c.heads << " n " << c.n << " h " << h;
        EXPECT_TRUE(same_bits(out[at], loop[static_cast<size_t>(d)]))
            << "heads " << c.heads << " n " << c.n << " h " << h << " d " << d;
      }
    }
  }
}

}  // namespace
}  // namespace facet
