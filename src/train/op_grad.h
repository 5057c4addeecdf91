// Forward and backward of the small ops of the Gemma 4 decoder, templated on the scalar
// type: the training pass runs them in f32, the gradient tests in double against central
// finite differences of the same forward. Backward functions ADD into their input
// gradient (dx += ...), so contributions from several consumers sum naturally.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/matmul.h"  // dot_f32

namespace facet::train {

// y = x / sqrt(mean(x^2) + eps) * w (w == nullptr: no learned scale).
template <typename T>
void rms_norm_fwd(const T* x, const float* w, int64_t n, double eps, T* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const T inv = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * (w ? static_cast<T>(w[i]) : T(1));
}

// dx += d/dx of rms_norm given dy. With u = x·inv: dx = inv (g - u mean(g·u)), g = dy·w.
template <typename T>
void rms_norm_bwd(const T* x, const float* w, int64_t n, double eps, const T* dy, T* dx) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  double gu = 0;
  for (int64_t i = 0; i < n; ++i) gu += static_cast<double>(dy[i]) * (w ? w[i] : 1.0) * x[i] * inv;
  const double mean_gu = gu / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(dy[i]) * (w ? w[i] : 1.0);
    dx[i] += static_cast<T>(inv * (g - x[i] * inv * mean_gu));
  }
}

template <typename T>
T gelu_tanh_fwd(T z) {
  const T k = static_cast<T>(0.7978845608028654);  // sqrt(2/pi)
  return T(0.5) * z * (T(1) + std::tanh(k * (z + T(0.044715) * z * z * z)));
}

// d gelu_tanh(z) / dz.
template <typename T>
T gelu_tanh_grad(T z) {
  const T k = static_cast<T>(0.7978845608028654);
  const T th = std::tanh(k * (z + T(0.044715) * z * z * z));
  return T(0.5) * (T(1) + th) + T(0.5) * z * (T(1) - th * th) * k * (T(1) + T(3) * T(0.044715) * z * z);
}

// RoPE on one head of width 2*half, rotate-half pairing; pairs >= cos.size() pass through.
// `inverse` rotates by the negative angle, which is exactly the backward of the forward.
template <typename T>
void rope_rotate(T* x, int half, int pairs, const float* cs, const float* sn, bool inverse) {
  for (int i = 0; i < pairs; ++i) {
    const T c = cs[i], s = inverse ? -sn[i] : sn[i];
    const T x0 = x[i], x1 = x[i + half];
    x[i] = x0 * c - x1 * s;
    x[i + half] = x1 * c + x0 * s;
  }
}

// y = cap * tanh(x / cap); backward dx += dy (1 - (y/cap)^2).
template <typename T>
T soft_cap_fwd(T x, double cap) {
  return static_cast<T>(cap * std::tanh(static_cast<double>(x) / cap));
}
template <typename T>
T soft_cap_grad_from_output(T y, double cap) {
  const double t = static_cast<double>(y) / cap;
  return static_cast<T>(1.0 - t * t);
}

// Softmax backward: given p = softmax(s) and dp, ds += p (dp - sum p dp).
template <typename T>
void softmax_bwd(const T* p, const T* dp, int64_t n, T* ds) {
  double dot = 0;
  for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(p[i]) * dp[i];
  for (int64_t i = 0; i < n; ++i) ds[i] += static_cast<T>(p[i] * (dp[i] - dot));
}

// Cross-entropy of one row of logits against `target`: returns -log softmax(z)[target] and
// sets dz = scale * (softmax(z) - onehot(target)) (overwrites).
template <typename T>
double cross_entropy(const T* z, int64_t n, int64_t target, double scale, T* dz) {
  double mx = z[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(z[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(z[i] - mx);
  const double log_z = mx + std::log(sum);
  if (dz)
    for (int64_t i = 0; i < n; ++i)
      dz[i] = static_cast<T>(scale * (std::exp(z[i] - log_z) - (i == target ? 1.0 : 0.0)));
  return log_z - static_cast<double>(z[target]);
}

// MoE routing weights from router logits (spec §4.7): softmax over all experts, top-k with
// ties to the lower id, renormalised over the chosen, times the per-expert scale.
struct RouteChoice {
  std::vector<int> experts;
};
template <typename T>
RouteChoice choose_experts(const T* probs, int n_experts, int k) {
  std::vector<int> order(static_cast<size_t>(n_experts));
  for (int i = 0; i < n_experts; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return probs[a] > probs[b]; });
  return {std::vector<int>(order.begin(), order.begin() + k)};
}

// weights[j] = probs[e_j] / sum_k probs[e_k] * scale[e_j] for the chosen experts.
template <typename T>
std::vector<T> route_weights(const T* probs, const RouteChoice& choice, const float* expert_scale) {
  double sum = 0;
  for (int e : choice.experts) sum += probs[e];
  std::vector<T> w;
  for (int e : choice.experts) w.push_back(static_cast<T>(probs[e] / sum) * static_cast<T>(expert_scale[e]));
  return w;
}

// Backward of router logits -> softmax -> renormalised chosen weights, for a fixed choice
// (the discrete selection has no gradient). dlogits += ...
template <typename T>
void route_bwd(const T* probs, int n_experts, const RouteChoice& choice, const float* expert_scale,
               const T* dweights, T* dlogits) {
  double sum = 0;
  for (int e : choice.experts) sum += probs[e];
  double cross = 0;  // sum_k dw_k s_k p_k / S^2
  for (size_t j = 0; j < choice.experts.size(); ++j) {
    const int e = choice.experts[j];
    cross += static_cast<double>(dweights[j]) * expert_scale[e] * probs[e];
  }
  cross /= sum * sum;
  std::vector<T> dp(static_cast<size_t>(n_experts), T(0));
  for (size_t j = 0; j < choice.experts.size(); ++j) {
    const int e = choice.experts[j];
    dp[static_cast<size_t>(e)] = static_cast<T>(dweights[j] * expert_scale[e] / sum - cross);
  }
  softmax_bwd(probs, dp.data(), n_experts, dlogits);
}

// Σ_d a[d] b[d]: in f32 with dot_f32's eight partial sums (one running sum made every score a
// chain of D dependent adds, a tenth of a training step); in f64 (the tests' references) plainly.
template <typename T>
T head_dot(const T* a, const T* b, int D) {
  if constexpr (std::is_same_v<T, float>) {
    return dot_f32(a, b, D);
  } else {
    T s = 0;
    for (int d = 0; d < D; ++d) s += a[d] * b[d];
    return s;
  }
}

// Causal (optionally windowed) attention of one query head over keys [first, last]:
// scores = q·k (scale 1.0, spec §4.5), p = softmax, out = sum p v. Rows of k/v are
// `stride` apart. Returns p (for the backward).
template <typename T>
std::vector<T> attention_head_fwd(const T* q, const T* k, const T* v, int64_t stride, int64_t first, int64_t last,
                                  int D, T* out) {
  std::vector<T> p(static_cast<size_t>(last - first + 1));
  T mx = -INFINITY;
  for (int64_t j = first; j <= last; ++j) {
    const T s = head_dot(q, k + j * stride, D);
    p[static_cast<size_t>(j - first)] = s;
    mx = std::max(mx, s);
  }
  T sum = 0;
  for (T& x : p) sum += (x = std::exp(x - mx));
  for (T& x : p) x /= sum;
  std::fill(out, out + D, T(0));
  for (int64_t j = first; j <= last; ++j)
    for (int d = 0; d < D; ++d) out[d] += p[static_cast<size_t>(j - first)] * v[j * stride + d];
  return p;
}

// Backward of attention_head_fwd: dq += ..., dk/dv rows += ... .
template <typename T>
void attention_head_bwd(const T* q, const T* k, const T* v, int64_t stride, int64_t first, int64_t last, int D,
                        const std::vector<T>& p, const T* dout, T* dq, T* dk, T* dv) {
  const int64_t m = last - first + 1;
  std::vector<T> dp(static_cast<size_t>(m)), ds(static_cast<size_t>(m), T(0));
  for (int64_t j = first; j <= last; ++j) {
    dp[static_cast<size_t>(j - first)] = head_dot(dout, v + j * stride, D);
    const T pj = p[static_cast<size_t>(j - first)];
    for (int d = 0; d < D; ++d) dv[j * stride + d] += pj * dout[d];
  }
  softmax_bwd(p.data(), dp.data(), m, ds.data());
  for (int64_t j = first; j <= last; ++j) {
    const T g = ds[static_cast<size_t>(j - first)];
    for (int d = 0; d < D; ++d) {
      dq[d] += g * k[j * stride + d];
      dk[j * stride + d] += g * q[d];
    }
  }
}

}  // namespace facet::train
