// LoRA adapters on the decoder's linear layers, as PEFT defines them (finetune spec §1):
//   y = W x + s · B A drop(x),  s = alpha / r  (rsLoRA: alpha / sqrt(r)),
// A [r, in] Kaiming-uniform(a = sqrt(5)) = U(-1/sqrt(in), +1/sqrt(in)), B [out, r] zeros.
// The base W stays frozen (any computable dtype); only A and B have gradients.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/model.h"

namespace facet::train {

// ExpertGateUp / ExpertDown are the MoE experts' fused 3-D parameters (PEFT
// `target_parameters` "experts.gate_up_proj" [E, 2I, H] and "experts.down_proj" [E, H, I]),
// opt-in only: see train/expert_lora.h for their factor layout.
enum class LoraTarget { Q, K, V, O, Gate, Up, Down, PleGate, PleProj, ExpertGateUp, ExpertDown };
constexpr int kLoraTargetCount = 11;
// PEFT name: "q_proj", ... (target_modules) or "experts.gate_up_proj" (target_parameters).
const char* lora_target_name(LoraTarget target);
LoraTarget parse_lora_target(const std::string& name);  // throws Error on an unknown name
constexpr bool is_expert_target(LoraTarget t) { return t == LoraTarget::ExpertGateUp || t == LoraTarget::ExpertDown; }

struct LoraConfig {
  int rank = 8;
  double alpha = 8.0;
  double dropout = 0.0;
  bool use_rslora = false;
  std::vector<LoraTarget> targets = {LoraTarget::Q,    LoraTarget::K,  LoraTarget::V,   LoraTarget::O,
                                     LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down};
  double scale() const;
};

// One adapted linear layer: A [rank, in], B [out, rank], row-major, with gradients.
// An expert target (experts > 0) holds all experts' factors as PEFT's ParamWrapper stores
// them: A [rank·E, in], B [out, rank·E]; in / out / rank are one expert's.
struct LoraWeights {
  int64_t in = 0, out = 0, rank = 0;
  int64_t experts = 0;  // E for an expert target, 0 for a linear layer
  std::vector<float> a, b, grad_a, grad_b;
};

struct LoraLayer {
  std::array<std::optional<LoraWeights>, kLoraTargetCount> modules;
  LoraWeights* get(LoraTarget t) { auto& m = modules[static_cast<size_t>(t)]; return m ? &*m : nullptr; }
  const LoraWeights* get(LoraTarget t) const { const auto& m = modules[static_cast<size_t>(t)]; return m ? &*m : nullptr; }
};

struct LoraModel {
  LoraConfig config;
  std::vector<LoraLayer> layers;

  void zero_grad();
  // Every trainable tensor and its gradient (A then B of each module, layer order).
  std::vector<std::pair<std::vector<float>*, std::vector<float>*>> parameters();
  int64_t parameter_count() const;
};

// Adapters for `model` on the configured targets, initialised as PEFT does (A from a
// seeded generator, B = 0). Targets that do not exist on a layer are skipped: K/V on
// KV-shared layers, V on K=V layers, PLE projections without PLE, experts without MoE.
// Throws Error if the targets match no module at all (as PEFT does), and when an expert
// module would get dropout (PEFT's ParamWrapper refuses lora_dropout > 0).
LoraModel make_lora(const Model& model, const LoraConfig& config, uint64_t seed);

// How a linear layer runs in training: dropout on the LoRA input is deterministic in
// (seed, layer, target, element), so the recompute in backward sees the same mask.
struct DropoutKey {
  uint64_t seed = 0;
  int layer = 0;
  LoraTarget target = LoraTarget::Q;
};

// y = W x (+ s B A drop(x)) for n tokens. `lora` may be null.
void linear_fwd(const WeightMatrix& w, const LoraWeights* lora, double scale, double dropout, DropoutKey key,
                const float* x, int64_t n, float* y, ThreadPool* pool);
// Given dy: dx += W^T dy (+ LoRA path), and the LoRA gradients (grad_a, grad_b) += ... .
void linear_bwd(const WeightMatrix& w, LoraWeights* lora, double scale, double dropout, DropoutKey key,
                const float* x, int64_t n, const float* dy, float* dx, ThreadPool* pool);

// dx[t] += sum_r dy[t, r] W[r] for n tokens: the transposed use of a frozen weight, one
// converted row at a time (never an f32 copy of the whole matrix).
void matmul_transposed_add(const WeightMatrix& w, const float* dy, int64_t n, float* dx, ThreadPool* pool);

}  // namespace facet::train
