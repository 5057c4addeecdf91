// The decoder blocks of the training pass (internal to src/train): each block's forward
// records what its backward needs in a tape; the layer loop keeps only each layer's input
// and the K/V of KV-owning layers, and re-runs a layer's forward to rebuild its tapes
// just before that layer's backward (activation checkpointing).
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "model/model_inputs.h"
#include "train/full_model.h"
#include "train/lora.h"
#include "train/op_grad.h"

namespace facet::train {

using TrainRope = RopeAngles;  // the inference path's tables (model/model_inputs.h)

// State of one training pass over a sequence starting at position 0 (or, packed, over
// several examples each starting at position 0).
struct PassContext {
  PassContext(const Model& m, LoraModel* l, ThreadPool& p) : model(m), lora(l), pool(p) {}
  const Model& model;
  LoraModel* lora;  // null: base model only
  FullModel* full = nullptr;  // full-parameter training: every weight gets its gradient
  ThreadPool& pool;
  double dropout = 0;  // LoRA dropout in effect (0 in eval)
  uint64_t dropout_seed = 0;
  int64_t n = 0;
  TrainRope rope_sliding, rope_full;  // per token, at its position within its example
  // Per token: the index of the first token of its example (all 0 unless packed). No
  // query attends to keys before it.
  std::vector<int64_t> example_start;
  std::vector<float> ple;  // [n, L*P] per-layer inputs (empty without PLE)
  // Post-norm/RoPE K and post-norm V of each KV-owning layer [n, n_kv*D], kept for the
  // whole pass because KV-shared layers read them; their gradients sum every reader's.
  std::vector<std::vector<float>> k, v, dk, dv;
  // Full training with PLE: the gradient of `ple` (each layer's block adds its slice).
  std::vector<float> dple;

  const TrainRope& rope(LayerKind kind) const { return kind == LayerKind::Sliding ? rope_sliding : rope_full; }
  const LoraWeights* adapter(int layer, LoraTarget t) const {
    return lora ? lora->layers[static_cast<size_t>(layer)].get(t) : nullptr;
  }
  LoraWeights* adapter(int layer, LoraTarget t) {
    return lora ? lora->layers[static_cast<size_t>(layer)].get(t) : nullptr;
  }
  double lora_scale() const { return lora ? lora->config.scale() : 0.0; }
  void linear(int layer, LoraTarget t, const WeightMatrix& w, const float* x, int64_t rows, float* y) const;
  // dx += dL/dx; in full training also dW += dy^T x.
  void linear_grad(int layer, LoraTarget t, const WeightMatrix& w, const float* x, int64_t rows, const float* dy,
                   float* dx);
  // The gradient buffer of a trained weight the forward reads at `weight`, or null (LoRA
  // or inference-only passes, or a weight that is not trained).
  std::vector<float>* grad_of(const void* weight) const { return full ? full->grad_of(weight) : nullptr; }
  // Row-wise RMSNorm backward: dx += ...; in full training also the weight's gradient.
  void norm_rows_bwd(const float* x, const std::vector<float>& weight, int64_t rows, int64_t width, const float* dy,
                     float* dx) const;
};

struct AttentionTape {
  std::vector<float> x, a, q_raw, q, k_raw, v_raw, attn, o;
  std::vector<std::vector<float>> probs;  // [t * n_heads + h]
};

struct GeGluTape {
  std::vector<float> input, gate, up, hidden;  // hidden = gelu(gate) * up
};

struct MoeTape {
  std::vector<float> router_in;            // [n, H] normed, scaled router input
  std::vector<float> probs;                // [n, E]
  std::vector<RouteChoice> choice;         // per token
  std::vector<std::vector<float>> weight;  // per token, per chosen expert
  std::vector<float> y;                    // [n, H] pre_ffw_norm_2(x)
  // Per expert: (token, slot in that token's choice) and its GeGLU tape and output.
  std::vector<std::vector<std::pair<int64_t, int>>> assigned;
  std::vector<GeGluTape> expert;
  std::vector<std::vector<float>> result;
  std::vector<float> routed;               // [n, H] weighted sum before post_ffw_norm_2
};

struct FfnTape {
  std::vector<float> x;
  GeGluTape dense;
  std::vector<float> dense_out;  // [n, H] before post_ffw_norm(_1)
  MoeTape moe;
  std::vector<float> sum;        // input of post_ffw_norm
};

struct PleTape {
  std::vector<float> x, gate, hidden, proj;
};

// Each forward reads and updates the residual x [n, H]; `tape` may be null (no record).
// Each backward takes dx = dL/d(block output), and adds the branch's contribution so that
// dx becomes dL/d(block input).
void attention_fwd(PassContext& ctx, int layer, std::vector<float>& x, AttentionTape* tape);
void attention_bwd(PassContext& ctx, int layer, const AttentionTape& tape, std::vector<float>& dx);
void ffn_fwd(PassContext& ctx, int layer, std::vector<float>& x, FfnTape* tape);
void ffn_bwd(PassContext& ctx, int layer, const FfnTape& tape, std::vector<float>& dx);
void ple_fwd(PassContext& ctx, int layer, std::vector<float>& x, PleTape* tape);
void ple_bwd(PassContext& ctx, int layer, const PleTape& tape, std::vector<float>& dx);

// Row-wise helpers over n rows of width w.
void rms_norm_rows(const float* x, const float* weight, int64_t rows, int64_t width, double eps, float* y);
void rms_norm_rows_bwd(const float* x, const float* weight, int64_t rows, int64_t width, double eps,
                       const float* dy, float* dx);
// dw[i] += sum over rows of dy[i] · x[i] / rms(x): the gradient of a norm's learned scale.
void rms_norm_rows_weight_grad(const float* x, int64_t rows, int64_t width, double eps, const float* dy, float* dw);
// dW [out, in] += dy^T x for y = W x over n rows (x [n, in], dy [n, out]), on the pool.
void add_weight_grad(const float* x, const float* dy, int64_t n, int64_t in, int64_t out, float* dw,
                     ThreadPool& pool);

}  // namespace facet::train
