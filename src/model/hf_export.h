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

// The same folder with every linear weight (all 2-D tensors but the embeddings) stored as
// bitsandbytes stores NF4 with double quantization (block 64), the rest in `rest_dtype`
// (F32, F16 or BF16), and config.json's quantization_config set: a QLoRA base in the
// layout of Unsloth's "-bnb-4bit" uploads. Used by `facet quantize IN OUT_DIR NF4`.
void write_hf_model_bnb_nf4(const std::string& in, const std::string& out_dir, DType rest_dtype = DType::BF16,
                            int threads = 0);

}  // namespace facet
