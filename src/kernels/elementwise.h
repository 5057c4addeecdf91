// Small vector kernels: RMSNorm, GELU (tanh form), softmax, soft-capping.
#pragma once

#include <cstdint>

namespace facet {

// y = x / sqrt(mean(x^2) + eps) * weight; weight == nullptr means no learned scale.
// x and y may alias.
void rms_norm(const float* x, const float* weight, int64_t n, double eps, float* y);

// GELU with the tanh approximation: 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))).
float gelu_tanh(float z);

// gate[i] = gelu_tanh(gate[i]) * mul[i] for i < n (mul == nullptr: no product), vectorised
// (elementwise_simd.cpp): a relative error of a few f32 ulps against the exact formula.
void gelu_tanh_mul(float* gate, const float* mul, int64_t n);

// In-place softmax over n values, vectorised (elementwise_simd.cpp): each value within a few
// f32 ulps of exp(x - max) / sum.
void softmax(float* x, int64_t n);

// x = cap * tanh(x / cap) for each element (cap > 0).
void soft_cap(float* x, int64_t n, double cap);

}  // namespace facet
