// `facet export --merge BASE --lora PATH[:SCALE] ... --out OUT`: the base model with LoRA
// adapters merged into its weights (W' = W + Σ scale_k · s_k · B_k A_k, summed in double),
// written as a GGUF file (OUT ends in .gguf; any `facet quantize` type) or as a Hugging
// Face safetensors folder (F32, F16 or BF16). Like llama.cpp's llama-export-lora.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace facet::train {

struct MergeExportOptions {
  std::string base;                                     // .gguf file or HF folder
  std::vector<std::pair<std::string, double>> adapters;  // path, user scale
  std::string out;
  // F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q6_K (GGUF) / F32, F16, BF16 (folder). Empty: the
  // base's matrix type when it is F32, F16 or BF16, else F16.
  std::string outtype;
  int threads = 0;
};

struct MergeExportReport {
  int adapted_matrices = 0;  // weights that received at least one adapter
  std::string format;        // "gguf" or "safetensors"
  std::string outtype;
};

MergeExportReport export_merged(const MergeExportOptions& options);

}  // namespace facet::train
