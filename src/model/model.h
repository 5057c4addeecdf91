// A loaded Gemma 4 text decoder: its config, its bound weights and the files behind them.
#pragma once

#include <memory>
#include <string>

#include "model/model_config.h"
#include "model/weight_source.h"
#include "model/weights.h"

namespace facet {

struct Model {
  std::string path;
  ModelConfig config;
  std::unique_ptr<WeightSource> source;
  ModelWeights weights;
  // √H as the reference applies it: HF casts the f32 scale to the embedding's dtype
  // before multiplying, so BF16 tables use bf16(√H) (39.25 for E2B); F32 and F16 tables
  // use the f32 value, which is what llama.cpp and the float64 golden data use.
  float embedding_scale = 1.0f;
  // Owns the LoRA adapters attached for inference (train/adapter_runtime.h): the
  // WeightMatrix::lora pointers in `weights` point into it. Null when none are attached.
  std::shared_ptr<const void> lora_attachment;
  // Owns the packed copies of the matrices (model/weight_packing.h): the WeightMatrix::packed
  // pointers in `weights` point into it. Null when nothing is packed.
  std::shared_ptr<const void> packed_weights;
};

// Loads a .gguf file or a Hugging Face model folder (config.json + safetensors).
// Throws Error naming the file and the problem.
std::unique_ptr<Model> load_model(const std::string& path);

// Builds a Model from an already-open weight source and config (used by the loaders).
std::unique_ptr<Model> make_model(std::string path, ModelConfig config, std::unique_ptr<WeightSource> source);

}  // namespace facet
