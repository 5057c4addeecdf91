// The sampler's fast paths (one-pass top-k, radix-sorted candidates, skipped work) against
// a plain reference written here: sort every id by logit (ties: lower id first), keep the
// top k, untempered softmax for top-p and min-p, tempered weights, one draw from
// std::discrete_distribution with the same seeded generator. Every option combination must
// give the very same token sequence on many random logit vectors, ties and -inf included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace facet {
namespace {

class ReferenceSampler {
 public:
  explicit ReferenceSampler(SamplingOptions o) : o_(o), rng_(o.seed) {}

  int32_t sample(const std::vector<float>& logits) {
    const size_t n = logits.size();
    std::vector<int32_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    if (o_.temperature <= 0 || o_.top_k == 1) {
      int32_t best = 0;
      for (size_t i = 1; i < n; ++i)
        if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
      return best;
    }
    std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    if (o_.top_k > 0 && static_cast<size_t>(o_.top_k) < n) ids.resize(static_cast<size_t>(o_.top_k));
    const double top = logits[static_cast<size_t>(ids[0])];
    std::vector<double> p;
    double sum = 0;
    for (int32_t id : ids) {
      p.push_back(std::exp(static_cast<double>(logits[static_cast<size_t>(id)]) - top));
      sum += p.back();
    }
    for (double& v : p) v /= sum;
    size_t keep = ids.size();
    if (o_.top_p < 1.0) {
      double cumulative = 0;
      for (size_t i = 0; i < keep; ++i) {
        cumulative += p[i];
        if (cumulative >= o_.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    if (o_.min_p > 0) {
      size_t cut = 1;
      while (cut < keep && p[cut] >= o_.min_p * p[0]) ++cut;
      keep = cut;
    }
    std::vector<double> weights;
    for (size_t i = 0; i < keep; ++i)
      weights.push_back(std::exp((static_cast<double>(logits[static_cast<size_t>(ids[i])]) - top) / o_.temperature));
    std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
    return ids[pick(rng_)];
  }

 private:
  SamplingOptions o_;
  std::mt19937_64 rng_;
};

// Logits of a few kinds: spread-out normals, coarse steps (many exact ties), a handful of
// -inf entries (masked by a constraint), signed zeros, and one dominant spike.
std::vector<float> random_logits(std::mt19937& rng, size_t n, int kind) {
  std::normal_distribution<float> normal(0.0f, kind == 4 ? 8.0f : 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  std::uniform_int_distribution<size_t> any(0, n - 1);
  if (kind == 1)
    for (float& x : v) x = std::round(x * 2) / 2;
  if (kind == 2 || kind == 3)
    for (size_t i = 0; i < n / 3; ++i) v[any(rng)] = -std::numeric_limits<float>::infinity();
  if (kind == 3)
    for (float& x : v)
      if (std::isfinite(x)) x = std::fabs(x) < 1 ? std::copysign(0.0f, x) : std::round(x);  // +0 and -0 tie
  if (kind == 4) v[any(rng)] = 60.0f;
  if (std::all_of(v.begin(), v.end(), [](float x) { return std::isinf(x); })) v[0] = 0.0f;
  return v;
}

TEST(SamplerReference, EveryOptionCombinationPicksTheSameTokens) {
  std::mt19937 rng(1234);
  const double temperatures[] = {0.0, 0.25, 1.0, 2.5};
  const int top_ks[] = {0, 1, 2, 7, 64};
  const double top_ps[] = {1.0, 0.95, 0.5, 0.01};
  const double min_ps[] = {0.0, 0.05, 0.6};
  const size_t sizes[] = {1, 2, 5, 63, 64, 65, 130, 1000, 4099};
  int compared = 0;
  for (size_t n : sizes)
    for (int kind = 0; kind < 5; ++kind) {
      const std::vector<float> logits = random_logits(rng, n, kind);
      for (double t : temperatures)
        for (int k : top_ks)
          for (double top_p : top_ps)
            for (double min_p : min_ps) {
              const SamplingOptions o{.temperature = t, .top_k = k, .top_p = top_p, .min_p = min_p,
                                      .seed = rng()};
              Sampler fast(o);
              ReferenceSampler reference(o);
              for (int draw = 0; draw < 4; ++draw) {
                ASSERT_EQ(fast.sample(logits.data(), static_cast<int64_t>(n)), reference.sample(logits))
                    << "n=" << n << " kind=" << kind << " T=" << t << " top_k=" << k << " top_p=" << top_p
                    << " min_p=" << min_p << " draw " << draw;
                ++compared;
              }
            }
    }
  EXPECT_EQ(compared, 9 * 5 * 4 * 5 * 4 * 3 * 4);
}

// A Gemma-sized vocabulary, where the one-pass top-k and the radix sort take their long
// paths (many skipped blocks, all three radix passes).
TEST(SamplerReference, FullVocabularyPicksTheSameTokens) {
  std::mt19937 rng(99);
  const size_t n = 262144;
  for (int kind = 0; kind < 5; ++kind) {
    const std::vector<float> logits = random_logits(rng, n, kind);
    for (int k : {0, 40, 64, 1000})
      for (double top_p : {1.0, 0.95}) {
        const SamplingOptions o{.temperature = 1.0, .top_k = k, .top_p = top_p, .min_p = kind == 1 ? 0.05 : 0.0,
                                .seed = rng()};
        Sampler fast(o);
        ReferenceSampler reference(o);
        for (int draw = 0; draw < 3; ++draw)
          ASSERT_EQ(fast.sample(logits.data(), static_cast<int64_t>(n)), reference.sample(logits))
              << "kind=" << kind << " top_k=" << k << " top_p=" << top_p << " draw " << draw;
      }
  }
}

// argmax() skips blocks; its pick must stay std::max_element's, NaN positions included.
TEST(SamplerReference, ArgmaxEqualsMaxElement) {
  std::mt19937 rng(5);
  for (size_t n : {1, 2, 63, 64, 65, 129, 1000, 262144})
    for (int kind = 0; kind < 5; ++kind) {
      std::vector<float> v = random_logits(rng, n, kind);
      if (kind == 2) v[std::uniform_int_distribution<size_t>(0, n - 1)(rng)] = std::nanf("");
      if (kind == 3) v[0] = std::nanf("");
      const auto expected = std::max_element(v.begin(), v.end()) - v.begin();
      EXPECT_EQ(argmax(v.data(), static_cast<int64_t>(n)), expected) << "n=" << n << " kind=" << kind;
    }
}

TEST(SamplerReference, NanLogitsAreAnErrorWhenDrawing) {
  std::vector<float> logits = {1.0f, std::nanf(""), 0.5f};
  Sampler s({.temperature = 1.0, .top_k = 2});
  EXPECT_ANY_THROW(s.sample(logits.data(), 3));
}

}  // namespace
}  // namespace facet
