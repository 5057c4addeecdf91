// The tensors a Gemma 4 text decoder has, derived from its ModelConfig: each with its GGUF
// name, its Hugging Face name (without the "model.language_model." / "model." prefix) and
// its row-major shape (spec §6.1 and §6.2). The weight binder, the random-model generator
// and the converters all use this one list, so names and shapes live in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace facet {

// What a tensor is, so a generator can initialise it sensibly.
enum class TensorRole {
  Embedding,       // token or per-layer token table
  Matrix,          // a projection, [out, in]
  ExpertMatrices,  // [experts, out, in]
  Norm,            // RMSNorm weight (used as-is, no +1)
  LayerScalar,     // [1]
  RouterScale,     // router.scale [H]
  ExpertScale,     // per-expert output scale [E]
  RopeFreqs,       // GGUF-only rope_freqs (synthesised from the config)
};

struct TensorSpec {
  std::string gguf_name;
  std::string hf_name;  // empty for GGUF-only tensors
  std::vector<int64_t> shape;
  TensorRole role;
  int layer = -1;       // -1 for global tensors
};

std::vector<TensorSpec> tensor_manifest(const ModelConfig& config);

// HF prefixes of the text decoder: multimodal checkpoints, then text-only ones.
inline constexpr const char* kHfPrefixMultimodal = "model.language_model.";
inline constexpr const char* kHfPrefixText = "model.";

}  // namespace facet
