// softmax (vectorised, elementwise_simd.cpp) against a double-precision softmax written here,
// on every SIMD target this CPU runs, on lengths that leave every tail and on spreads from a
// few units to hundreds (where exp underflows and the vector Exp's clamp decides).
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/matmul_simd.h"

namespace facet {
namespace {

std::vector<double> reference_softmax(const std::vector<float>& x) {
  const double max = *std::max_element(x.begin(), x.end());
  std::vector<double> p(x.size());
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(static_cast<double>(x[i]) - max);
  for (double& v : p) v /= sum;
  return p;
}

TEST(KernelSoftmax, MatchesDoublePrecisionOnEveryTarget) {
  for (int64_t target : matmul_simd_targets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (size_t n : {1, 5, 8, 16, 17, 100, 2394, 70000}) {
      for (float spread : {1.0f, 8.0f, 300.0f}) {
        std::mt19937 rng(static_cast<uint32_t>(n * 31 + static_cast<size_t>(spread)));
        std::normal_distribution<float> dist(0.0f, spread);
        std::vector<float> x(n);
        for (float& v : x) v = dist(rng) - 50.0f;  // an offset: only differences matter
        const std::vector<double> want = reference_softmax(x);
        softmax(x.data(), static_cast<int64_t>(n));
        double total = 0;
        for (size_t i = 0; i < n; ++i) {
          // A few f32 ulps of each value, plus what the clamp at exp(-87) ~ 1.6e-38 lets through.
          ASSERT_NEAR(x[i], want[i], 4e-6 * want[i] + 2e-38) << "n " << n << " spread " << spread << " i " << i;
          total += x[i];
        }
        EXPECT_NEAR(total, 1.0, 1e-5) << "n " << n << " spread " << spread;
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(KernelSoftmax, EqualValuesAreUniformAndOneValueIsOne) {
  std::vector<float> x(37, 3.25f);
  softmax(x.data(), 37);
  for (float v : x) EXPECT_NEAR(v, 1.0f / 37, 1e-7f);
  float one = -1e30f;
  softmax(&one, 1);
  EXPECT_EQ(one, 1.0f);
}

}  // namespace
}  // namespace facet
