// Checks shared by the loaders of drafters and media towers when they bind a manifest's
// tensors: each error names the file (`where`) and the tensor as the file names it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/weight_source.h"
#include "tensor/tensor.h"

namespace facet {

// How strictly a one-element tensor's shape is checked: exactly as the manifest says, or
// stored as [] or [1] alike (the towers' clamp scalars are 0-d in HF files, [1] in GGUF).
enum class ScalarShape { Exact, ZeroOrOneD };

// The tensor `gguf_name` of `source`; throws Error when it is missing, has another shape
// than `shape` or a dtype facet cannot compute with.
const TensorView& checked_tensor(const WeightSource& source, const std::string& gguf_name,
                                 const std::vector<int64_t>& shape, const std::string& where,
                                 ScalarShape scalars = ScalarShape::Exact);

// Every value of a (computable) tensor as f32, in its element order.
std::vector<float> to_f32(const TensorView& t);

}  // namespace facet
