#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "util/error.h"

namespace facet {
namespace {

TEST(Sampler, GreedyPicksTheArgmaxAndTheFirstOnTies) {
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f};
  Sampler greedy({});
  EXPECT_EQ(greedy.sample(logits.data(), 4), 1);
  Sampler top1({.temperature = 1.0, .top_k = 1});
  EXPECT_EQ(top1.sample(logits.data(), 4), 1);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDifferent) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[static_cast<size_t>(i)] = static_cast<float>(std::sin(i));
  auto draw = [&](uint64_t seed) {
    Sampler s({.temperature = 1.0, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 40; ++i) out.push_back(s.sample(logits.data(), 50));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

// With no filters, draws follow softmax(logits / T): compare frequencies to the
// probabilities computed here independently.
TEST(Sampler, FrequenciesFollowTheTemperedSoftmax) {
  std::vector<float> logits = {1.0f, 2.0f, 0.0f, 1.5f};
  const double T = 0.7;
  double z = 0;
  std::vector<double> p;
  for (float l : logits) z += std::exp(l / T);
  for (float l : logits) p.push_back(std::exp(l / T) / z);
  Sampler s({.temperature = T, .seed = 42});
  std::vector<int> counts(4);
  const int n = 40000;
  for (int i = 0; i < n; ++i) counts[static_cast<size_t>(s.sample(logits.data(), 4))]++;
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(n), p[i], 0.01) << i;
}

TEST(Sampler, TopKTopPAndMinPRestrictTheCandidates) {
  // probabilities at T=1: roughly 0.64, 0.24, 0.09, 0.03
  std::vector<float> logits = {3.0f, 2.0f, 1.0f, 0.0f};
  auto support = [&](SamplingOptions o) {
    Sampler s(o);
    std::map<int32_t, int> seen;
    for (int i = 0; i < 3000; ++i) seen[s.sample(logits.data(), 4)]++;
    std::vector<int32_t> ids;
    for (auto& [id, c] : seen) ids.push_back(id);
    return ids;
  };
  EXPECT_EQ(support({.temperature = 1.0, .top_k = 2, .seed = 1}), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(support({.temperature = 1.0, .top_p = 0.8, .seed = 1}), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(support({.temperature = 1.0, .top_p = 0.5, .seed = 1}), (std::vector<int32_t>{0}));
  EXPECT_EQ(support({.temperature = 1.0, .min_p = 0.3, .seed = 1}), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(support({.temperature = 5.0, .seed = 1}), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(Sampler, InvalidOptionsAreErrors) {
  EXPECT_THROW(Sampler({.temperature = -1}), Error);
  EXPECT_THROW(Sampler({.top_k = -2}), Error);
  EXPECT_THROW(Sampler({.top_p = 0}), Error);
  EXPECT_THROW(Sampler({.top_p = 1.5}), Error);
  EXPECT_THROW(Sampler({.min_p = 2}), Error);
  EXPECT_THROW(Sampler({.temperature = NAN}), Error);
}

}  // namespace
}  // namespace facet
