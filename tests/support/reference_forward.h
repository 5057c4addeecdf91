// Independent float64 reference forward pass of the Gemma 4 text decoder — the oracle the
// engine's optimized forward pass is compared against.
//
// Written straight from /work/shared/spec/gemma4-architecture.md (§4 forward pass, §4.5.1
// RoPE, §4.7 MoE, §5 KV sharing, §6.2 GGUF names) and shares no code with src/model/.
// Clarity over speed: every weight is upcast once to double, every step is a plain loop
// over doubles and is named as in the spec. Whole-sequence causal forward only (the
// logits of an incremental decode must equal these position by position).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace facet::test {

// A row-major [rows, cols] matrix in double; `times(x)` is the Linear W·x (PyTorch
// [out, in] layout, which is also the GGUF layout read through TensorView, §6.2).
struct RefMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> data;

  bool empty() const { return data.empty(); }
  const double* row(int64_t r) const { return data.data() + r * cols; }
  std::vector<double> times(const std::vector<double>& x) const;
};

// Hyper-parameters, derived from GGUF metadata (keys of §6.2, prefix `gemma4.`) and from
// which tensors are present.
struct ReferenceConfig {
  int64_t n_layers = 0;
  int64_t hidden = 0;  // H
  int64_t vocab = 0;   // V
  double rms_eps = 1e-6;
  double final_logit_softcap = 0;  // 0 = no soft-cap
  int64_t sliding_window = 0;      // W: query i sees keys j with i - j < W (§4.3)
  int64_t head_dim_sliding = 0;    // key_length_swa
  int64_t head_dim_full = 0;       // key_length
  double rope_base_sliding = 10000;
  double rope_base_full = 1000000;
  // Per layer.
  std::vector<bool> is_sliding;     // sliding_window_pattern, true = sliding
  std::vector<int64_t> n_heads;     // Nq
  std::vector<int64_t> n_kv_heads;  // Nkv
  std::vector<int64_t> ffn_width;   // dense MLP width I_ℓ (double-wide on shared layers)
  std::vector<int64_t> kv_source;   // the layer whose K/V layer ℓ uses (ℓ itself if it owns KV)
  int64_t first_shared_layer = 0;   // F = L - shared_kv_layers (§5)
  int64_t ple_dim = 0;              // P (0 = no per-layer embeddings)
  // √H as applied to the embeddings: HF casts it to the weight dtype (§4.1), which
  // matters for BF16 tables (bf16(√H)); F32/F16 tables use the exact value, as the
  // golden float64 data do.
  double embedding_scale = 1.0;
  int64_t n_experts = 0;            // 0 = no MoE block
  int64_t n_experts_used = 0;
  int64_t expert_width = 0;
  // Full-layer proportional RoPE inverse frequencies (D_full/2 entries, zero for the
  // pairs that are not rotated, §4.5.1); sliding layers use plain default RoPE.
  std::vector<double> inv_freq_full;
  std::vector<double> inv_freq_sliding;

  int64_t head_dim(int64_t layer) const {
    return is_sliding[static_cast<size_t>(layer)] ? head_dim_sliding : head_dim_full;
  }
};

struct ReferenceLayer {
  std::vector<double> attn_norm, post_attention_norm, ffn_norm, post_ffw_norm;
  RefMatrix attn_q, attn_k, attn_v, attn_output;  // attn_k/attn_v empty on KV-shared layers;
                                                  // attn_v empty on K=V layers
  std::vector<double> q_norm, k_norm;
  RefMatrix ffn_gate, ffn_up, ffn_down;
  double layer_output_scale = 1;
  // Per-layer embeddings (§4.2, §4.4).
  RefMatrix inp_gate, proj;
  std::vector<double> post_norm;
  // MoE block (§4.7): router, experts split into gate/up halves, and the three extra norms.
  RefMatrix router;
  std::vector<double> router_scale, per_expert_scale;
  std::vector<RefMatrix> expert_gate, expert_up, expert_down;
  std::vector<double> pre_ffw_norm_2, post_ffw_norm_1, post_ffw_norm_2;
};

// Optional intermediate values for debugging an engine against the reference.
struct ReferenceTrace {
  std::vector<std::vector<double>> embedding;                // [T][H], after ×√H
  std::vector<std::vector<std::vector<double>>> ple;         // [T][L][P]
  std::vector<std::vector<std::vector<double>>> layer_out;   // [L][T][H], after layer_scalar
  std::vector<std::vector<double>> final_norm;               // [T][H]
};

// Values that stand in for some of the file's tensors (by GGUF name, same element count):
// a gradient check moves one tensor and runs the reference again.
using ReferenceOverrides = std::map<std::string, const std::vector<float>*>;

class ReferenceModel {
 public:
  explicit ReferenceModel(const GgufFile& file, const ReferenceOverrides& overrides = {});

  const ReferenceConfig& config() const { return config_; }
  // positions × vocab logits (after the final soft-cap) for a whole causal sequence.
  // `media`: soft tokens (image/audio) by position (spec §9.3): such a position is
  // embedded as the pad token (id 0) for the per-layer token part and its input row is
  // the given one, as it is (no √H). `image_blocks`: [first, first + count) position ranges
  // whose tokens also see each other bidirectionally, on every layer (use_bidirectional_attention
  // = "vision", as current transformers builds the mask: causal-or-window OR same block).
  std::vector<std::vector<double>> forward(
      const std::vector<int32_t>& tokens, ReferenceTrace* trace = nullptr,
      const std::map<int64_t, std::vector<double>>* media = nullptr,
      const std::vector<std::pair<int64_t, int64_t>>& image_blocks = {}) const;

 private:
  std::vector<std::vector<double>> per_layer_inputs(int32_t token,
                                                    const std::vector<double>& x0) const;
  ReferenceConfig config_;
  RefMatrix token_embd_;   // [V, H]
  RefMatrix output_;       // [V, H]; empty when tied to token_embd (§4.8)
  std::vector<double> output_norm_;
  RefMatrix per_layer_token_embd_;  // [V, L·P]
  RefMatrix per_layer_model_proj_;  // [L·P, H]
  std::vector<double> per_layer_proj_norm_;  // [P]
  std::vector<ReferenceLayer> layers_;
};

// Convenience: load `file` and run the forward pass.
std::vector<std::vector<double>> reference_logits(const GgufFile& file,
                                                  const std::vector<int32_t>& tokens);

}  // namespace facet::test
