// LoRA on the MoE experts' fused 3-D weights (finetune spec §1.5c), in PEFT's
// `target_parameters` (ParamWrapper) layout for a parameter [E, out, in]:
//   A [r·E, in]: expert e uses rows [e·r, (e+1)·r)            (A viewed as [E, r, in])
//   B [out, r·E]: expert e uses columns j·E + e, j = 0..r-1    (B viewed as [out, r, E])
//   ΔW_e = s · B_e A_e, with B_e = B[:, :, e] ([out, r]) and A_e = A[e] ([r, in]).
// experts.gate_up_proj is [E, 2I, H] (gate rows first), experts.down_proj is [E, H, I].
// Only the tokens routed to expert e touch its factors.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "train/lora.h"

namespace facet {
class ThreadPool;
}

namespace facet::train {

struct ExpertShape {
  int64_t experts = 0;  // 0: the model has no MoE block
  int64_t out = 0, in = 0;
};
// One expert's [out, in] for an expert target (gate_up: [2I, H], down: [H, I]).
ExpertShape expert_target_shape(const ModelConfig& config, LoraTarget target);

// A_e: rows [e·r, (e+1)·r) of A, contiguous [r, in].
const float* expert_a(const LoraWeights& w, int64_t e);
// B_e as a contiguous [out, r] copy (B's columns for e are strided by E).
std::vector<float> expert_b(const LoraWeights& w, int64_t e);

// y[t·rows + i] += scale · (B_e A_e x[t])[row0 + i] for t < n, i < rows: the LoRA part of
// rows [row0, row0 + rows) of expert e's adapted weight (the gate or up half of gate_up).
void expert_lora_fwd(const LoraWeights& w, int64_t e, double scale, int64_t row0, int64_t rows, const float* x,
                     int64_t n, float* y);
// Given dy [n, rows] of those rows: dx [n, in] += its LoRA part, and the expert's columns
// of grad_b / rows of grad_a += their gradients.
void expert_lora_bwd(LoraWeights& w, int64_t e, double scale, int64_t row0, int64_t rows, const float* x, int64_t n,
                     const float* dy, float* dx);

// delta[c] += scale · Σ_j B[row, j·E + e] · A[e·r + j, c] (row `row` of ΔW_e, in double).
void add_expert_delta_row(const LoraWeights& w, int64_t e, double scale, int64_t row, double* delta);

}  // namespace facet::train
