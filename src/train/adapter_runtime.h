// LoRA adapters applied at inference without merging (finetune spec §3.2): each adapted
// WeightMatrix gets a chain of (A, B, scale) and matmul() adds scale · B (A x) after the
// base product. Several adapters add; scale 0 leaves an adapter loaded but off.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/model.h"
#include "train/lora.h"

namespace facet::train {

struct LoadedAdapter {
  std::string path;
  std::shared_ptr<const LoraModel> lora;
  // The user's multiplier (llama.cpp --lora-scaled): the effective scale of a module is
  // scale × lora->config.scale().
  double scale = 1.0;
};

// "PATH" -> (PATH, 1); "PATH:SCALE" -> (PATH, SCALE) when what follows the last ':' is a
// number (so paths with ':' still work). Throws Error on a non-finite scale or empty path.
std::pair<std::string, double> parse_lora_argument(const std::string& text);

// load_adapter (adapter_io.h) wrapped for inference.
LoadedAdapter load_adapter_for_inference(const std::string& path, double scale, const Model& model);

// Makes `model`'s matmuls apply `adapters` (replacing whatever was attached before; an
// empty list detaches all). The model keeps the adapters' data alive. Throws Error when an
// adapter's module does not fit the model's weight (then nothing is changed).
void attach_adapters(Model& model, const std::vector<LoadedAdapter>& adapters);

// Sets the user multipliers of the adapters attached to `model` (scales[k] for the k-th
// adapter given to attach_adapters) without re-attaching: only the chain's scale fields
// change, so the server can switch scales between forward passes. The caller must make
// sure no forward pass runs on `model` meanwhile. Throws Error when the count is wrong.
void set_adapter_scales(const Model& model, const std::vector<double>& scales);
// How many adapters are attached to `model` (0 when none).
size_t attached_adapter_count(const Model& model);

// Row `row` of the merged weight of (layer, target): values += Σ_k scale_k · B_k[row] A_k,
// summed in double. `values` holds the base row (cols values).
void add_merged_row(const std::vector<LoadedAdapter>& adapters, int layer, LoraTarget target, int64_t row,
                    float* values, int64_t cols);

}  // namespace facet::train
