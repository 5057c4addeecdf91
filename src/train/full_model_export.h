// Writing a fully trained model: the trained f32 weights in place of the ones in the file
// the training started from, with everything else (metadata, tokenizer, chat template,
// rope_freqs) copied from that file.
#pragma once

#include <string>

#include "train/full_model.h"

namespace facet::train {

// `out` ending in .gguf: a GGUF with matrices in `outtype` (any `facet quantize` type:
// F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K); otherwise an HF safetensors folder (F32, F16
// or BF16). The starting file is full.model().path.
void export_full_model(const FullModel& full, const std::string& out, const std::string& outtype = "F32",
                       int threads = 0);

// The end of `facet pretrain` / `facet finetune --full`: DIR/model.gguf in `outtype` and,
// with `save_hf`, DIR/hf as a Hugging Face folder (config.json, model.safetensors,
// tokenizer) in `outtype` when it is F32, F16 or BF16, otherwise in BF16 (the dtype Gemma 4
// checkpoints ship in). Returns what was written, for the command's last message.
std::string export_trained_model(const FullModel& full, const std::string& output_dir, const std::string& outtype,
                                 bool save_hf, int threads);

}  // namespace facet::train
