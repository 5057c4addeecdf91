// soft_cap (the vectorised final-logit soft-cap, cap * tanh(x / cap)) against std::tanh in
// double precision, on lengths that leave every SIMD tail and on values from tiny to far
// beyond the cap (where tanh saturates at ±1).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/elementwise.h"

namespace facet {
namespace {

TEST(KernelSoftCap, MatchesDoublePrecisionTanhOnAwkwardLengths) {
  const double cap = 30.0;  // Gemma's final_logit_softcapping
  const float fixed[] = {0.0f, -0.0f, 1e-30f, -1e-6f, 0.5f, -3.0f, 29.0f, -31.0f, 90.0f, -300.0f, 1e6f, -1e30f};
  for (size_t n : {1, 7, 8, 9, 33, 1000}) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::normal_distribution<float> dist(0.0f, 20.0f);
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = n > 30 && i < std::size(fixed) ? fixed[i] : dist(rng);
    std::vector<float> y = x;
    soft_cap(y.data(), static_cast<int64_t>(n), cap);
    for (size_t i = 0; i < n; ++i) {
      const double want = cap * std::tanh(static_cast<double>(x[i]) / cap);
      // A few f32 ulps of the result (the vector tanh, the two products), and never more
      // than the cap in magnitude.
      EXPECT_NEAR(y[i], want, 1e-6 * std::fabs(want) + 1e-37) << "x=" << x[i] << " n=" << n;
      EXPECT_LE(std::fabs(y[i]), cap) << "x=" << x[i];
    }
  }
}

TEST(KernelSoftCap, LeavesElementsPastTheLengthAlone) {
  std::vector<float> x(20, 50.0f);
  soft_cap(x.data() + 1, 9, 30.0);
  EXPECT_EQ(x[0], 50.0f);
  for (size_t i = 10; i < x.size(); ++i) EXPECT_EQ(x[i], 50.0f) << i;
  EXPECT_NEAR(x[1], 30.0 * std::tanh(50.0 / 30.0), 1e-6 * 30.0);
}

}  // namespace
}  // namespace facet
