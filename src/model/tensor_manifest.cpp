#include "model/tensor_manifest.h"

namespace facet {

std::vector<TensorSpec> tensor_manifest(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  const int64_t H = c.hidden_size, V = c.vocab_size, P = c.ple_dim, L = c.n_layers;
  auto add = [&](std::string gguf, std::string hf, std::vector<int64_t> shape, TensorRole role, int layer) {
    out.push_back({std::move(gguf), std::move(hf), std::move(shape), role, layer});
  };

  add("token_embd.weight", "embed_tokens.weight", {V, H}, TensorRole::Embedding, -1);
  if (c.has_ple()) {
    add("per_layer_token_embd.weight", "embed_tokens_per_layer.weight", {c.ple_vocab, L * P}, TensorRole::Embedding, -1);
    add("per_layer_model_proj.weight", "per_layer_model_projection.weight", {L * P, H}, TensorRole::Matrix, -1);
    add("per_layer_proj_norm.weight", "per_layer_projection_norm.weight", {P}, TensorRole::Norm, -1);
  }
  add("output_norm.weight", "norm.weight", {H}, TensorRole::Norm, -1);
  add("rope_freqs.weight", "", {c.rope_full.head_dim / 2}, TensorRole::RopeFreqs, -1);

  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& l = c.layers[static_cast<size_t>(i)];
    const std::string g = "blk." + std::to_string(i) + ".";
    const std::string h = "layers." + std::to_string(i) + ".";
    const int64_t D = l.head_dim, q_rows = c.n_heads * D, kv_rows = l.n_kv_heads * D, I = l.ffn_width;
    add(g + "attn_norm.weight", h + "input_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "attn_q.weight", h + "self_attn.q_proj.weight", {q_rows, H}, TensorRole::Matrix, i);
    add(g + "attn_q_norm.weight", h + "self_attn.q_norm.weight", {D}, TensorRole::Norm, i);
    if (l.owns_kv) {
      add(g + "attn_k.weight", h + "self_attn.k_proj.weight", {kv_rows, H}, TensorRole::Matrix, i);
      add(g + "attn_k_norm.weight", h + "self_attn.k_norm.weight", {D}, TensorRole::Norm, i);
      if (!l.k_eq_v) add(g + "attn_v.weight", h + "self_attn.v_proj.weight", {kv_rows, H}, TensorRole::Matrix, i);
    }
    add(g + "attn_output.weight", h + "self_attn.o_proj.weight", {H, q_rows}, TensorRole::Matrix, i);
    add(g + "post_attention_norm.weight", h + "post_attention_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "ffn_norm.weight", h + "pre_feedforward_layernorm.weight", {H}, TensorRole::Norm, i);
    add(g + "ffn_gate.weight", h + "mlp.gate_proj.weight", {I, H}, TensorRole::Matrix, i);
    add(g + "ffn_up.weight", h + "mlp.up_proj.weight", {I, H}, TensorRole::Matrix, i);
    add(g + "ffn_down.weight", h + "mlp.down_proj.weight", {H, I}, TensorRole::Matrix, i);
    add(g + "post_ffw_norm.weight", h + "post_feedforward_layernorm.weight", {H}, TensorRole::Norm, i);
    if (c.has_moe()) {
      const int64_t E = c.n_experts, IE = c.expert_ffn_width;
      add(g + "ffn_gate_inp.weight", h + "router.proj.weight", {E, H}, TensorRole::Matrix, i);
      add(g + "ffn_gate_inp.scale", h + "router.scale", {H}, TensorRole::RouterScale, i);
      add(g + "ffn_gate_up_exps.weight", h + "experts.gate_up_proj", {E, 2 * IE, H}, TensorRole::ExpertMatrices, i);
      add(g + "ffn_down_exps.weight", h + "experts.down_proj", {E, H, IE}, TensorRole::ExpertMatrices, i);
      add(g + "ffn_down_exps.scale", h + "router.per_expert_scale", {E}, TensorRole::ExpertScale, i);
      add(g + "post_ffw_norm_1.weight", h + "post_feedforward_layernorm_1.weight", {H}, TensorRole::Norm, i);
      add(g + "pre_ffw_norm_2.weight", h + "pre_feedforward_layernorm_2.weight", {H}, TensorRole::Norm, i);
      add(g + "post_ffw_norm_2.weight", h + "post_feedforward_layernorm_2.weight", {H}, TensorRole::Norm, i);
    }
    if (c.has_ple()) {
      add(g + "inp_gate.weight", h + "per_layer_input_gate.weight", {P, H}, TensorRole::Matrix, i);
      add(g + "proj.weight", h + "per_layer_projection.weight", {H, P}, TensorRole::Matrix, i);
      add(g + "post_norm.weight", h + "post_per_layer_input_norm.weight", {H}, TensorRole::Norm, i);
    }
    add(g + "layer_output_scale.weight", h + "layer_scalar", {1}, TensorRole::LayerScalar, i);
  }
  return out;
}

}  // namespace facet
