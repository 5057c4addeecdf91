// The Gemma 4 decoder's weights bound by name and checked against the shapes the
// ModelConfig implies. Matrices stay in the mapped files (any computable dtype);
// small vectors (norm weights, scales) are copied to f32 once at load.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/model_config.h"
#include "model/weight_source.h"

namespace facet {

struct LayerWeights {
  std::vector<float> attn_norm, post_attn_norm, ffn_norm, post_ffw_norm;
  std::vector<float> q_norm, k_norm;
  WeightMatrix q, k, v, o;  // k/v empty on KV-shared layers; v empty on K=V layers
  WeightMatrix gate, up, down;
  float layer_scalar = 1.0f;

  // Per-layer embeddings (PLE).
  WeightMatrix ple_gate, ple_proj;
  std::vector<float> ple_post_norm;

  // MoE block.
  WeightMatrix router;
  std::vector<float> router_scale, expert_scale;
  std::vector<float> post_ffw_norm_1, pre_ffw_norm_2, post_ffw_norm_2;
  // Experts: gate and up rows for expert e are [e*I, e*I+I) of expert_gate / expert_up.
  TensorView expert_gate, expert_up, expert_down;  // [E, I, H], [E, I, H], [E, H, I]
  bool experts_fused = false;  // gate_up in one tensor [E, 2I, H]: gate = first I rows
  // LoRA chains attached at inference to the experts (train/adapter_runtime.h), one per
  // expert: B rows of a gate_up chain are [2I] (gate rows first), of a down chain [H].
  // Empty: no adapter on the experts.
  std::vector<const LoraDelta*> expert_gate_up_lora, expert_down_lora;
};

// Expert e's gate [I, H], up [I, H] and down [H, I] matrices, with their attached LoRA
// chains (if any), whether gate and up are fused in one tensor or not.
struct ExpertMatrices {
  WeightMatrix gate, up, down;
};
ExpertMatrices expert_matrices(const ModelConfig& config, const LayerWeights& w, int e);

struct ModelWeights {
  TensorView token_embd;              // [V, H], also the tied output head
  const uint8_t* token_embd_packed = nullptr;  // the head's packed copy (model/weight_packing.h), or null
  std::vector<float> output_norm;
  TensorView ple_token_embd;          // [V_pl, L*P]
  WeightMatrix ple_model_proj;        // [L*P, H]
  std::vector<float> ple_proj_norm;   // [P]
  std::vector<LayerWeights> layers;
};

// Binds every tensor the config needs; throws Error naming the tensor and the expected
// shape or type when one is missing or wrong. Unused tensors in the source (vision or
// audio towers, dead K/V weights on KV-shared layers) are ignored.
ModelWeights bind_weights(const ModelConfig& config, const WeightSource& source, const std::string& where);

}  // namespace facet
