// Deterministic random initial values for the tensors of a test model.
//
// Every value is a pure function of (seed, tensor name, element index) — a counter-based
// generator (splitmix64 finaliser over a per-tensor key plus the index) — so any range of
// any tensor can be produced independently, in parallel, in any order, and the GGUF and HF
// outputs of one seed hold the same numbers.
//
// The recipe (as in /work/shared/data/models/README.md) keeps a deep random stack from
// being chaotic, so small numeric differences between engines stay small:
//   matrices N(0, 1/fan_in); token embeddings N(0, 1/H) and the per-layer table
//   N(0, 1/P) (unit variance after the model's √H / √P scaling); norm weights N(1, 0.1²),
//   except q/k norms (mean D^-1/4) and the norms whose output is added to the residual
//   stream (mean 0.1), each with 10 % relative spread; router scale N(1, 0.1²); layer
//   scalars U(0.9, 1.0); per-expert scales U(0.5, 1.5).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/tensor_manifest.h"
#include "tensor/dtype.h"

namespace facet {

// How one tensor's values are drawn.
struct InitRule {
  enum class Kind { Normal, Uniform, Constant } kind = Kind::Normal;
  double a = 0;  // Normal: mean;   Uniform: low;  Constant: value
  double b = 0;  // Normal: stddev; Uniform: high
};

// The rule for a manifest tensor (by role, shape and, for norms, name). RopeFreqs has no
// random rule; its content comes from rope_freqs_values().
InitRule init_rule(const TensorSpec& spec, const ModelConfig& config);

// A 64-bit key for (seed, tensor name); every element of the tensor derives from it.
uint64_t tensor_key(uint64_t seed, const std::string& tensor_name);

// Fills out[0..count) with the values of elements [first, first + count) of a tensor.
void fill_random(const InitRule& rule, uint64_t key, int64_t first, int64_t count, float* out);

// Every value of a tensor of `shape` drawn by `rule` under `key`, rounded to `dtype` and
// kept as floats: what a file in that dtype stores, so an F32 copy of it holds the same
// numbers (the writers of drafters and towers; models use the chunked produce_tensor).
std::vector<float> random_tensor_values(const InitRule& rule, uint64_t key, const std::vector<int64_t>& shape,
                                        DType dtype);

}  // namespace facet
