// The Kneser-Ney baseline (train/kneser_ney.h): its distribution sums to 1 for seen and
// unseen histories, a bigram example computed by hand from the definition, and more
// context helps on text with long-range structure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "train/kneser_ney.h"

namespace facet::train {
namespace {

TEST(KneserNey, ProbabilitiesSumToOne) {
  const int vocab = 12;
  KneserNeyModel model(3, vocab, 2);
  std::mt19937 rng(1);
  for (int s = 0; s < 40; ++s) {
    std::vector<int32_t> ids = {2};
    for (int t = 0; t < 15; ++t) ids.push_back(static_cast<int32_t>(3 + rng() % 6));  // ids 3..8 only
    model.add(ids);
  }
  model.finish();
  for (const std::vector<int32_t>& history : std::vector<std::vector<int32_t>>{{2}, {2, 4}, {5, 6}, {10, 11}, {7}}) {
    double sum = 0;
    for (int w = 0; w < vocab; ++w) {
      std::vector<int32_t> ids = history;
      ids.push_back(w);
      sum += std::exp(model.log_prob(ids, ids.size() - 1));
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
  }
}

// Bigram model over "a b", "a c", "a b" (ids: bos 0, a 1, b 2, c 3; vocabulary 4).
// Bigram counts: (0,1)=3, (1,2)=2, (1,3)=1. Unigram KN counts: tokens after <bos> keep
// their raw count only when the unigram starts with <bos> (never a target), so
// cc(a)=1 (one left neighbour: <bos>), cc(b)=1, cc(c)=1. Count-of-counts have zeros, so
// the fallback discounts 0.5 / 1 / 1.5 apply at both orders.
TEST(KneserNey, MatchesAHandComputedBigram) {
  KneserNeyModel model(2, 4, 0);
  model.add({0, 1, 2});
  model.add({0, 1, 3});
  model.add({0, 1, 2});
  model.finish();
  // Unigram: total 3, each count 1 (D1 = 0.5): p1(w) = 0.5/3 + γ/4, γ = 0.5*3/3 = 0.5.
  const double p1_b = 0.5 / 3 + 0.5 / 4;
  // Bigram after a: c(a·) = 3, c(a b) = 2 (D2 = 1), c(a c) = 1 (D1 = 0.5);
  // γ(a) = (0.5*1 + 1*1) / 3.
  const double gamma_a = 1.5 / 3;
  EXPECT_NEAR(std::exp(model.log_prob({0, 1, 2}, 2)), (2 - 1.0) / 3 + gamma_a * p1_b, 1e-12);
  const double p1_d = 0 + 0.5 / 4;  // an unseen token: only the uniform share
  EXPECT_NEAR(std::exp(model.log_prob({0, 1, 1}, 2)), gamma_a * (0.5 / 3 + 0.5 / 4), 1e-12);
  EXPECT_NEAR(std::exp(model.log_prob({5, 3}, 1)), p1_d + 0.5 / 3, 1e-12);  // history 5 unseen: unigram of c
}

TEST(KneserNey, MoreContextHelpsOnStructuredText) {
  // Each sequence repeats one of 4 random 6-token phrases: a 4-gram predicts far better.
  std::mt19937 rng(2);
  std::vector<std::vector<int32_t>> phrases(4);
  for (auto& p : phrases)
    for (int i = 0; i < 6; ++i) p.push_back(static_cast<int32_t>(3 + rng() % 20));
  auto sequence = [&] {
    std::vector<int32_t> ids = {2};
    for (int r = 0; r < 5; ++r) {
      const auto& p = phrases[rng() % 4];
      ids.insert(ids.end(), p.begin(), p.end());
    }
    return ids;
  };
  KneserNeyModel uni(1, 30, 2), four(4, 30, 2);
  for (int s = 0; s < 200; ++s) {
    const auto ids = sequence();
    uni.add(ids);
    four.add(ids);
  }
  uni.finish();
  four.finish();
  double nll_uni = 0, nll_four = 0;
  for (int s = 0; s < 20; ++s) {
    const auto ids = sequence();
    nll_uni += uni.negative_log_likelihood(ids);
    nll_four += four.negative_log_likelihood(ids);
  }
  EXPECT_LT(nll_four, 0.5 * nll_uni);
}

}  // namespace
}  // namespace facet::train
