// Writes a loaded model's text decoder as a Hugging Face folder: config.json, the
// safetensors shards, and the tokenizer (copied from an HF base; from a GGUF base, a
// tokenizer.json built from its tokenizer.ggml.* vocabulary plus chat_template.jinja).
// Used by `facet export --merge ... --out DIR`.
#pragma once

#include <string>

#include "model/quantize_model.h"
#include "tensor/dtype.h"

namespace facet {

// `dtype`: F32, F16 or BF16 (safetensors has no GGML block types). The layout follows the
// base: "model.layers." for a text-only HF base, otherwise the multimodal
// Gemma4ForConditionalGeneration layout ("model.language_model.") as released checkpoints
// have it. threads <= 0: all cores.
void write_hf_model(const std::string& in, const std::string& out_dir, DType dtype, int threads = 0,
                    const RowEditorFor& edit = {});

}  // namespace facet
