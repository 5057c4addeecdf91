// gelu_tanh_mul (the vectorised GeGLU gate) against the tanh-form GELU written here in
// double precision, on lengths that leave every SIMD tail (1, 7, 8, 9, 33, 1000) and on
// inputs from the far negative tail (where 1 + tanh cancels) to large positive values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/elementwise.h"

namespace facet {
namespace {

// 0.5 (1 + tanh(u)) written as the equal 1 / (1 + exp(-2u)): in the far negative tail
// 1 + tanh(u) cancels even in double (it is exactly 0 from z ≈ -9), this form does not.
double gelu_u(double z) { return std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z); }
double gelu_reference(double z) { return z / (1.0 + std::exp(-2.0 * gelu_u(z))); }

// Stated tolerance: 2e-6 relative (a few f32 ulps of the vector exp, the division and the
// product), plus the f32 rounding of the exponent 2u (about 5e-7 |2u| relative, which matters
// in the negative tail where the result is tiny), plus 1e-30 absolute for results that
// underflow towards zero.
void expect_close(double got, double want, const char* what, size_t i, double z) {
  const double tol = std::fabs(want) * (2e-6 + 5e-7 * std::fabs(2.0 * gelu_u(z))) + 1e-30;
  EXPECT_NEAR(got, want, tol) << what << " at i=" << i << " z=" << z;
}

std::vector<float> inputs(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  const float fixed[] = {0.0f, -0.0f, 1e-20f, -1e-20f, 1e-3f, -1e-3f, 0.5f, -0.5f, 3.0f, -3.0f, -6.0f, -9.0f,
                         -12.0f, 20.0f, -40.0f, 100.0f, -1000.0f, 1e6f};
  std::vector<float> z(n);
  for (size_t i = 0; i < n; ++i) z[i] = i < std::size(fixed) && n > 30 ? fixed[i] : dist(rng);
  return z;
}

TEST(KernelGelu, MatchesDoublePrecisionFormulaOnAwkwardLengths) {
  for (size_t n : {1, 7, 8, 9, 33, 1000}) {
    const std::vector<float> z = inputs(n, static_cast<uint32_t>(n));
    std::vector<float> mul(n);
    for (size_t i = 0; i < n; ++i) mul[i] = 0.25f + static_cast<float>(i % 7);
    std::vector<float> plain = z, product = z;
    gelu_tanh_mul(plain.data(), nullptr, static_cast<int64_t>(n));
    gelu_tanh_mul(product.data(), mul.data(), static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) {
      const double want = gelu_reference(z[i]);
      expect_close(plain[i], want, "gelu", i, z[i]);
      expect_close(product[i], want * mul[i], "gelu * mul", i, z[i]);
    }
  }
}

TEST(KernelGelu, LeavesElementsPastTheLengthAlone) {
  std::vector<float> z(16, 2.0f);
  gelu_tanh_mul(z.data() + 1, nullptr, 9);
  EXPECT_EQ(z[0], 2.0f);
  for (size_t i = 10; i < z.size(); ++i) EXPECT_EQ(z[i], 2.0f) << i;
  EXPECT_NEAR(z[1], gelu_reference(2.0), 2e-6 * 2.0);
}

}  // namespace
}  // namespace facet
