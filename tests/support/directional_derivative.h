// The finite-difference half of a gradient check along a random direction: the loss's
// derivative along a unit direction, by central differences in double, next to the
// analytic one (the gradient dotted with the direction). A step can flip an MoE top-k
// choice, a jump that no gradient describes; the differences at eps and eps/2 then
// disagree, and another direction with a smaller step is tried (up to 9 in all).
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace facet::test {

struct DirectionalDerivative {
  double analytic = 0, numeric = 0;
  int redrawn = 0;     // directions dropped for a non-smooth step
  bool found = false;  // false: no smooth direction in 9 tries
};

// `p` is perturbed in place and restored; `grad` is its analytic gradient; `loss()` is
// the loss at the current `p`; `draw()` gives the direction's raw components.
template <class Loss, class Draw>
DirectionalDerivative directional_derivative(std::vector<float>& p, const std::vector<float>& grad, Loss loss,
                                             Draw draw) {
  const std::vector<float> saved = p;
  auto loss_at = [&](const std::vector<double>& dir, double eps) {
    for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<float>(saved[i] + eps * dir[i]);
    return loss();
  };
  DirectionalDerivative out;
  for (int attempt = 0; attempt <= 8; ++attempt) {
    std::vector<double> dir(p.size());
    double norm = 0;
    for (double& d : dir) {
      d = draw();
      norm += d * d;
    }
    out.analytic = 0;
    for (size_t i = 0; i < dir.size(); ++i) out.analytic += grad[i] * (dir[i] /= std::sqrt(norm));
    const double eps = 2e-2 / (1 << attempt);  // smaller steps past a near-tie
    out.numeric = (loss_at(dir, eps) - loss_at(dir, -eps)) / (2 * eps);
    const double half = (loss_at(dir, eps / 2) - loss_at(dir, -eps / 2)) / eps;
    if (std::abs(out.numeric - half) <= 0.1 * std::abs(out.numeric) + 2e-4) {
      out.found = true;
      break;
    }
    ++out.redrawn;
  }
  p = saved;
  return out;
}

}  // namespace facet::test
