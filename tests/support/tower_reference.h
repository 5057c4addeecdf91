// Pieces of the float64 references of the vision and audio towers (model_vision_test,
// model_audio_test). They read an mmproj GGUF's tensors straight from the file and compute
// in plain double-precision loops: nothing here calls facet's model or kernel code.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "tensor/convert.h"

namespace facet::test {

using Vec = std::vector<double>;

// A fixed linear congruential generator for test inputs (independent of facet's own).
struct Lcg {
  uint32_t state;
  // The next state's upper 24 bits.
  uint32_t next() {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  }
};

// An mmproj GGUF's tensors as doubles, by GGUF name.
struct GgufTensors {
  std::unique_ptr<GgufFile> file;

  Vec get(const std::string& name) const {
    const GgufTensor* t = file->tensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (t == nullptr) return {};
    std::vector<float> f(static_cast<size_t>(t->view.numel()));
    row_to_f32(t->view.dtype, t->view.data, f.data(), t->view.numel());
    return Vec(f.begin(), f.end());
  }
  bool has(const std::string& name) const { return file->tensor(name) != nullptr; }
};

// RMSNorm of x[0..n) in place, times w (none: scale-less).
inline void ref_rms(double* x, int64_t n, const double* w, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * inv * (w ? w[i] : 1.0);
}

// y = W x for n rows of x (W: [out, cols]), no clamps.
inline Vec ref_plain(const Vec& w, const Vec& x, int64_t n, int64_t cols) {
  const int64_t out = static_cast<int64_t>(w.size()) / cols;
  Vec y(static_cast<size_t>(n * out));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < out; ++r) {
      double s = 0;
      for (int64_t i = 0; i < cols; ++i) s += w[r * cols + i] * x[t * cols + i];
      y[t * out + r] = s;
    }
  return y;
}

// The GGUF Linear `prefix`: clamp(W clamp(x, input_min, input_max), output_min, output_max),
// each bound ±infinity when the file has none.
inline Vec ref_linear(const GgufTensors& f, const std::string& prefix, Vec x, int64_t n, int64_t cols) {
  auto bound = [&](const char* suffix, double fallback) {
    return f.has(prefix + suffix) ? f.get(prefix + suffix)[0] : fallback;
  };
  const double lo = bound(".input_min", -INFINITY), hi = bound(".input_max", INFINITY);
  const double olo = bound(".output_min", -INFINITY), ohi = bound(".output_max", INFINITY);
  for (double& v : x) v = std::clamp(v, lo, hi);
  Vec y = ref_plain(f.get(prefix + ".weight"), x, n, cols);
  for (double& v : y) v = std::clamp(v, olo, ohi);
  return y;
}

// The worst error relative to 1 + |want| stays within `bound`.
inline void expect_close(const std::vector<float>& got, const Vec& want, double bound) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i])));
  EXPECT_LE(worst, bound);
}

}  // namespace facet::test
