// What the vision and audio towers share: the clamped Linear (E2B/E4B towers clamp every
// Linear's input and output), binding a tower manifest's tensors, and f32 matrices over
// activations for matmul.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/tensor_binding.h"
#include "model/weight_source.h"

namespace facet {

class ThreadPool;

// y = clamp(W clamp(x, in_lo, in_hi), out_lo, out_hi); a missing bound is ±infinity.
struct ClampedLinear {
  WeightMatrix w;
  float in_lo, in_hi, out_lo, out_hi;
};

// y = clamp(W clamp(x)) for n rows of x.
std::vector<float> clamped_linear(const ClampedLinear& l, const std::vector<float>& x, int64_t n, ThreadPool& pool);
// The same into `y`, resized to n rows (kept as it is when it has that size already: a tower
// that reuses its buffers from layer to layer pays no new pages and no zeroing per layer).
void clamped_linear_into(const ClampedLinear& l, const std::vector<float>& x, int64_t n, ThreadPool& pool,
                         std::vector<float>& y);

// An F32 WeightMatrix [rows, cols] over `values` (which must outlive it).
WeightMatrix f32_matrix(const std::vector<float>& values, int64_t rows, int64_t cols);

// Binds the tensors of a tower manifest (entries with gguf_name, gguf_shape and hf_shape)
// from a GGUF or HF source, each checked against the shape of the source's layout; a
// scalar may be stored as [] or [1].
class TowerBinder {
 public:
  template <class Spec>
  TowerBinder(const std::vector<Spec>& manifest, const WeightSource& source, std::string where)
      : source_(source), where_(std::move(where)) {
    const bool gguf = source.format() == "gguf";
    for (const Spec& spec : manifest) shapes_.emplace(spec.gguf_name, gguf ? spec.gguf_shape : spec.hf_shape);
  }

  const TensorView& tensor(const std::string& gguf_name) const;
  std::vector<float> vector(const std::string& gguf_name) const { return to_f32(tensor(gguf_name)); }
  WeightMatrix matrix(const std::string& gguf_name) const { return as_matrix(tensor(gguf_name)); }
  // `prefix`.weight with the clamp scalars `prefix`.{input,output}_{min,max}; a bound the
  // manifest does not list (towers without clamps) or the file lacks is ±infinity.
  ClampedLinear clamped_linear(const std::string& prefix) const;

 private:
  float bound(const std::string& gguf_name, float fallback) const;

  const WeightSource& source_;
  std::string where_;
  std::map<std::string, std::vector<int64_t>> shapes_;  // by GGUF name, in the source's layout
};

}  // namespace facet
