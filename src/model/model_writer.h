// Writers of model metadata from a ModelConfig: the gemma4.* GGUF keys (spec §6.2), the
// synthesised rope_freqs tensor, and an HF config.json. Each is the exact inverse of the
// matching reader (ModelConfig::from_gguf / from_hf_json): a config that a format cannot
// express (e.g. per-pair RoPE factors in an HF config) is rejected with an Error rather
// than written approximately.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "model/model_config.h"
#include "tensor/dtype.h"

namespace facet {

class GgufWriter;

// general.* and gemma4.* keys. `weight_dtype` sets general.file_type (F32 0, F16 1, BF16 32).
// Tokenizer keys are written separately (see test_vocabulary.h).
void write_gguf_metadata(GgufWriter& writer, const ModelConfig& config, DType weight_dtype = DType::F32);

// Content of the GGUF-only `rope_freqs.weight` tensor ([rope_full.head_dim / 2] F32): the
// rotated pairs' frequency factors (1.0 in released models), then 1e30 for the pairs that
// proportional RoPE leaves unrotated (llama.cpp's encoding).
std::vector<float> rope_freqs_values(const ModelConfig& config);

// An HF text config (`Gemma4ForCausalLM`, model_type gemma4_text) that from_hf_json reads
// back as the same config; tensors go under the "model." prefix.
nlohmann::json hf_config_json(const ModelConfig& config);
// The same text config wrapped as a multimodal `Gemma4ForConditionalGeneration` with no
// towers; tensors go under "model.language_model.".
nlohmann::json hf_multimodal_config_json(const ModelConfig& config);

// llama.cpp's general.file_type code for a file whose matrices are `weight_dtype`.
uint32_t gguf_file_type(DType weight_dtype);

}  // namespace facet
