// token_logprob against a double-precision log-softmax and a full sort written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "sampling/logprobs.h"
#include "util/error.h"

namespace facet {
namespace {

TEST(Logprobs, MatchesADoubleLogSoftmaxAndAFullSort) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> logits(50000);
  for (float& v : logits) v = normal(rng);
  logits[123] = logits[456] = 30.0f;                    // a tie at the top: the lower id comes first
  logits[9] = -std::numeric_limits<float>::infinity();  // masked: never listed
  double max = -1e300, sum = 0;
  for (float v : logits) max = std::max(max, static_cast<double>(v));
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_norm = max + std::log(sum);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });

  for (int top_n : {0, 1, 2, 5, 20}) {
    const TokenLogprob lp = token_logprob(logits, 777, top_n);
    EXPECT_EQ(lp.id, 777);
    EXPECT_NEAR(lp.logprob, logits[777] - log_norm, 1e-4);
    ASSERT_EQ(lp.top.size(), static_cast<size_t>(top_n));
    for (int i = 0; i < top_n; ++i) {
      EXPECT_EQ(lp.top[i].first, order[i]) << i;
      EXPECT_NEAR(lp.top[i].second, logits[order[i]] - log_norm, 1e-4);
    }
  }
  EXPECT_EQ(token_logprob(logits, 0, 2).top[0].first, 123);
}

TEST(Logprobs, MaskedTokensAreLeftOutAndProbabilitiesSumToOne) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits{-inf, 1.0f, -inf, 3.0f};
  const TokenLogprob lp = token_logprob(logits, 1, 4);
  ASSERT_EQ(lp.top.size(), 2u);  // only the two unmasked tokens
  EXPECT_EQ(lp.top[0].first, 3);
  EXPECT_NEAR(std::exp(lp.top[0].second) + std::exp(lp.top[1].second), 1.0, 1e-6);
  EXPECT_NEAR(lp.logprob, 1.0 - (3.0 + std::log1p(std::exp(-2.0))), 1e-6);
}

TEST(Logprobs, BadArgumentsAreErrors) {
  const std::vector<float> logits{0.0f, 1.0f};
  EXPECT_THROW(token_logprob(logits, 2, 0), Error);
  EXPECT_THROW(token_logprob(logits, 0, 21), Error);
  EXPECT_THROW(token_logprob(logits, 0, -1), Error);
}

}  // namespace
}  // namespace facet
