#include "model/tower_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "util/thread_pool.h"

namespace facet {

void clamped_linear_into(const ClampedLinear& l, const std::vector<float>& x, int64_t n, ThreadPool& pool,
                         std::vector<float>& y) {
  const float* input = x.data();
  thread_local std::vector<float> clamped;
  if (std::isfinite(l.in_lo) || std::isfinite(l.in_hi)) {
    clamped.resize(x.size());
    for (size_t i = 0; i < x.size(); ++i) clamped[i] = std::clamp(x[i], l.in_lo, l.in_hi);
    input = clamped.data();
  }
  y.resize(static_cast<size_t>(n * l.w.rows));
  matmul(l.w, input, n, y.data(), &pool);
  if (std::isfinite(l.out_lo) || std::isfinite(l.out_hi))
    for (float& v : y) v = std::clamp(v, l.out_lo, l.out_hi);
}

std::vector<float> clamped_linear(const ClampedLinear& l, const std::vector<float>& x, int64_t n, ThreadPool& pool) {
  std::vector<float> y;
  clamped_linear_into(l, x, n, pool, y);
  return y;
}

WeightMatrix f32_matrix(const std::vector<float>& values, int64_t rows, int64_t cols) {
  WeightMatrix m;
  m.dtype = DType::F32;
  m.data = reinterpret_cast<const uint8_t*>(values.data());
  m.rows = rows;
  m.cols = cols;
  return m;
}

const TensorView& TowerBinder::tensor(const std::string& gguf_name) const {
  return checked_tensor(source_, gguf_name, shapes_.at(gguf_name), where_, ScalarShape::ZeroOrOneD);
}

float TowerBinder::bound(const std::string& gguf_name, float fallback) const {
  return shapes_.count(gguf_name) != 0 && source_.find(gguf_name) != nullptr ? vector(gguf_name)[0] : fallback;
}

ClampedLinear TowerBinder::clamped_linear(const std::string& prefix) const {
  const float inf = std::numeric_limits<float>::infinity();
  ClampedLinear l;
  l.w = matrix(prefix + ".weight");
  l.in_lo = bound(prefix + ".input_min", -inf);
  l.in_hi = bound(prefix + ".input_max", inf);
  l.out_lo = bound(prefix + ".output_min", -inf);
  l.out_hi = bound(prefix + ".output_max", inf);
  return l;
}

}  // namespace facet
