#include "kernels/elementwise.h"

#include <algorithm>
#include <cmath>

namespace facet {

void rms_norm(const float* x, const float* weight, int64_t n, double eps, float* y) {
  double sum_sq = 0;  // double: the mean of squares of wide rows loses digits in f32
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps);
  if (weight != nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * inv * weight[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<float>(x[i] * inv);
  }
}

float gelu_tanh(float z) {
  const double k = 0.7978845608028654;  // sqrt(2 / pi)
  const double zd = z;
  return static_cast<float>(0.5 * zd * (1.0 + std::tanh(k * (zd + 0.044715 * zd * zd * zd))));
}

}  // namespace facet
