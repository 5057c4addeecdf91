// Feed-forward half of a decoder layer in training (spec §4.4, §4.6, §4.7): the dense
// GeGLU MLP (LoRA on gate/up/down) and, with MoE, the router and routed experts. The
// router's gradient flows through the chosen experts' weights, never through the choice.
#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "train/decoder_blocks.h"
#include "train/expert_lora.h"

namespace facet::train {
namespace {

struct GeGluWeights {
  WeightMatrix gate, up, down;
  int layer = -1;  // >= 0: LoRA targets of this layer apply (dense MLP only)
  // A routed expert: its index and the trained adapters on experts.gate_up_proj /
  // experts.down_proj (either may be null).
  int expert = -1;
  LoraWeights* gate_up_lora = nullptr;
  LoraWeights* down_lora = nullptr;
};

void geglu_fwd(PassContext& ctx, const GeGluWeights& w, const float* u, int64_t n, float* out, GeGluTape& tp) {
  const int64_t I = w.gate.rows, H = w.gate.cols;
  tp.input.assign(u, u + n * H);
  tp.gate.resize(static_cast<size_t>(n * I));
  tp.up.resize(tp.gate.size());
  tp.hidden.resize(tp.gate.size());
  if (w.layer >= 0) {
    ctx.linear(w.layer, LoraTarget::Gate, w.gate, u, n, tp.gate.data());
    ctx.linear(w.layer, LoraTarget::Up, w.up, u, n, tp.up.data());
  } else {
    matmul(w.gate, u, n, tp.gate.data(), &ctx.pool);
    matmul(w.up, u, n, tp.up.data(), &ctx.pool);
    if (w.gate_up_lora) {  // gate rows [0, I) and up rows [I, 2I) of the expert's gate_up
      expert_lora_fwd(*w.gate_up_lora, w.expert, ctx.lora_scale(), 0, I, u, n, tp.gate.data());
      expert_lora_fwd(*w.gate_up_lora, w.expert, ctx.lora_scale(), I, I, u, n, tp.up.data());
    }
  }
  tp.hidden = tp.gate;  // gelu(gate) * up, with the inference path's vectorised kernel
  gelu_tanh_mul(tp.hidden.data(), tp.up.data(), static_cast<int64_t>(tp.hidden.size()));
  if (w.layer >= 0) {
    ctx.linear(w.layer, LoraTarget::Down, w.down, tp.hidden.data(), n, out);
  } else {
    matmul(w.down, tp.hidden.data(), n, out, &ctx.pool);
    if (w.down_lora) expert_lora_fwd(*w.down_lora, w.expert, ctx.lora_scale(), 0, H, tp.hidden.data(), n, out);
  }
}

// du += d(input) given d(out).
void geglu_bwd(PassContext& ctx, const GeGluWeights& w, const GeGluTape& tp, int64_t n, const float* dout, float* du) {
  const int64_t I = w.gate.rows, H = w.gate.cols;
  std::vector<float> dh(tp.hidden.size(), 0.0f);
  if (w.layer >= 0) {
    ctx.linear_grad(w.layer, LoraTarget::Down, w.down, tp.hidden.data(), n, dout, dh.data());
  } else {
    matmul_transposed_add(w.down, dout, n, dh.data(), &ctx.pool);
    if (w.down_lora) expert_lora_bwd(*w.down_lora, w.expert, ctx.lora_scale(), 0, H, tp.hidden.data(), n, dout, dh.data());
  }
  std::vector<float> dgate(dh.size()), dup = tp.gate;
  gelu_tanh_mul(dup.data(), nullptr, static_cast<int64_t>(dup.size()));  // gelu(gate), as the forward
  for (size_t i = 0; i < dh.size(); ++i) {
    dgate[i] = dh[i] * tp.up[i] * gelu_tanh_grad(tp.gate[i]);
    dup[i] *= dh[i];
  }
  if (w.layer >= 0) {
    ctx.linear_grad(w.layer, LoraTarget::Gate, w.gate, tp.input.data(), n, dgate.data(), du);
    ctx.linear_grad(w.layer, LoraTarget::Up, w.up, tp.input.data(), n, dup.data(), du);
  } else {
    matmul_transposed_add(w.gate, dgate.data(), n, du, &ctx.pool);
    matmul_transposed_add(w.up, dup.data(), n, du, &ctx.pool);
    if (w.gate_up_lora) {
      expert_lora_bwd(*w.gate_up_lora, w.expert, ctx.lora_scale(), 0, I, tp.input.data(), n, dgate.data(), du);
      expert_lora_bwd(*w.gate_up_lora, w.expert, ctx.lora_scale(), I, I, tp.input.data(), n, dup.data(), du);
    }
  }
}

GeGluWeights expert_weights(PassContext& ctx, const LayerWeights& w, int layer, int e) {
  const ExpertMatrices m = expert_matrices(ctx.model.config, w, e);
  GeGluWeights g{m.gate, m.up, m.down};
  g.expert = e;
  g.gate_up_lora = ctx.adapter(layer, LoraTarget::ExpertGateUp);
  g.down_lora = ctx.adapter(layer, LoraTarget::ExpertDown);
  return g;
}

// Router (weightless RMSNorm × router_scale × H^-1/2, projection, softmax, top-k) and the
// routed experts for all tokens; writes the weighted expert sum to tp.routed.
void moe_fwd(PassContext& ctx, const LayerWeights& w, int layer, const std::vector<float>& x, MoeTape& tp) {
  const ModelConfig& c = ctx.model.config;
  const int64_t n = ctx.n, H = c.hidden_size, E = c.n_experts;
  const float inv_sqrt_h = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H)));
  tp.router_in.resize(static_cast<size_t>(n * H));
  tp.probs.resize(static_cast<size_t>(n * E));
  tp.y.resize(static_cast<size_t>(n * H));
  rms_norm_rows(x.data(), nullptr, n, H, c.rms_eps, tp.router_in.data());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < H; ++i) tp.router_in[static_cast<size_t>(t * H + i)] *= w.router_scale[static_cast<size_t>(i)] * inv_sqrt_h;
  matmul(w.router, tp.router_in.data(), n, tp.probs.data(), &ctx.pool);
  rms_norm_rows(x.data(), w.pre_ffw_norm_2.data(), n, H, c.rms_eps, tp.y.data());
  tp.choice.resize(static_cast<size_t>(n));
  tp.weight.resize(static_cast<size_t>(n));
  tp.assigned.assign(static_cast<size_t>(E), {});
  for (int64_t t = 0; t < n; ++t) {
    float* p = &tp.probs[static_cast<size_t>(t * E)];
    softmax(p, E);
    tp.choice[static_cast<size_t>(t)] = choose_experts(p, static_cast<int>(E), c.n_experts_used);
    tp.weight[static_cast<size_t>(t)] = route_weights(p, tp.choice[static_cast<size_t>(t)], w.expert_scale.data());
    const auto& chosen = tp.choice[static_cast<size_t>(t)].experts;
    for (size_t k = 0; k < chosen.size(); ++k) tp.assigned[static_cast<size_t>(chosen[k])].push_back({t, static_cast<int>(k)});
  }
  tp.routed.assign(static_cast<size_t>(n * H), 0.0f);
  tp.expert.assign(static_cast<size_t>(E), {});
  tp.result.assign(static_cast<size_t>(E), {});
  std::vector<float> in;
  for (int e = 0; e < E; ++e) {
    const auto& tokens = tp.assigned[static_cast<size_t>(e)];
    if (tokens.empty()) continue;
    const int64_t m = static_cast<int64_t>(tokens.size());
    in.resize(static_cast<size_t>(m * H));
    for (int64_t i = 0; i < m; ++i)
      std::copy_n(&tp.y[static_cast<size_t>(tokens[static_cast<size_t>(i)].first * H)], H, &in[static_cast<size_t>(i * H)]);
    std::vector<float>& result = tp.result[static_cast<size_t>(e)];
    result.resize(static_cast<size_t>(m * H));
    geglu_fwd(ctx, expert_weights(ctx, w, layer, e), in.data(), m, result.data(), tp.expert[static_cast<size_t>(e)]);
    for (int64_t i = 0; i < m; ++i) {
      const auto [t, k] = tokens[static_cast<size_t>(i)];
      const float weight = tp.weight[static_cast<size_t>(t)][static_cast<size_t>(k)];
      for (int64_t d = 0; d < H; ++d) tp.routed[static_cast<size_t>(t * H + d)] += weight * result[static_cast<size_t>(i * H + d)];
    }
  }
}

// dx += d(x) of the routed experts and the router, given d(routed).
void moe_bwd(PassContext& ctx, const LayerWeights& w, int layer, const std::vector<float>& x, const MoeTape& tp,
             const std::vector<float>& droutes, std::vector<float>& dx) {
  const ModelConfig& c = ctx.model.config;
  const int64_t n = ctx.n, H = c.hidden_size, E = c.n_experts;
  std::vector<std::vector<float>> dweight(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) dweight[static_cast<size_t>(t)].assign(tp.weight[static_cast<size_t>(t)].size(), 0.0f);
  std::vector<float> dy(static_cast<size_t>(n * H), 0.0f), dres, din;
  for (int e = 0; e < E; ++e) {
    const auto& tokens = tp.assigned[static_cast<size_t>(e)];
    if (tokens.empty()) continue;
    const int64_t m = static_cast<int64_t>(tokens.size());
    const std::vector<float>& result = tp.result[static_cast<size_t>(e)];
    dres.assign(static_cast<size_t>(m * H), 0.0f);
    for (int64_t i = 0; i < m; ++i) {
      const auto [t, k] = tokens[static_cast<size_t>(i)];
      const float weight = tp.weight[static_cast<size_t>(t)][static_cast<size_t>(k)];
      double dw = 0;
      for (int64_t d = 0; d < H; ++d) {
        const float g = droutes[static_cast<size_t>(t * H + d)];
        dw += static_cast<double>(g) * result[static_cast<size_t>(i * H + d)];
        dres[static_cast<size_t>(i * H + d)] = weight * g;
      }
      dweight[static_cast<size_t>(t)][static_cast<size_t>(k)] = static_cast<float>(dw);
    }
    din.assign(static_cast<size_t>(m * H), 0.0f);
    geglu_bwd(ctx, expert_weights(ctx, w, layer, e), tp.expert[static_cast<size_t>(e)], m, dres.data(), din.data());
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = tokens[static_cast<size_t>(i)].first;
      for (int64_t d = 0; d < H; ++d) dy[static_cast<size_t>(t * H + d)] += din[static_cast<size_t>(i * H + d)];
    }
  }
  rms_norm_rows_bwd(x.data(), w.pre_ffw_norm_2.data(), n, H, c.rms_eps, dy.data(), dx.data());

  // Router: chosen weights -> softmax -> logits -> projection -> scaled weightless norm.
  std::vector<float> dlogits(static_cast<size_t>(n * E), 0.0f), drouter_in(static_cast<size_t>(n * H), 0.0f);
  for (int64_t t = 0; t < n; ++t)
    route_bwd(&tp.probs[static_cast<size_t>(t * E)], static_cast<int>(E), tp.choice[static_cast<size_t>(t)],
              w.expert_scale.data(), dweight[static_cast<size_t>(t)].data(), &dlogits[static_cast<size_t>(t * E)]);
  matmul_transposed_add(w.router, dlogits.data(), n, drouter_in.data(), &ctx.pool);
  const float inv_sqrt_h = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H)));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < H; ++i) drouter_in[static_cast<size_t>(t * H + i)] *= w.router_scale[static_cast<size_t>(i)] * inv_sqrt_h;
  rms_norm_rows_bwd(x.data(), nullptr, n, H, c.rms_eps, drouter_in.data(), dx.data());
}

}  // namespace

void ffn_fwd(PassContext& ctx, int layer, std::vector<float>& x, FfnTape* tape) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n, H = c.hidden_size;
  FfnTape local;
  FfnTape& tp = tape ? *tape : local;
  tp.x = x;
  std::vector<float> m(static_cast<size_t>(n * H));
  rms_norm_rows(x.data(), w.ffn_norm.data(), n, H, c.rms_eps, m.data());
  tp.dense_out.resize(static_cast<size_t>(n * H));
  geglu_fwd(ctx, {w.gate, w.up, w.down, layer}, m.data(), n, tp.dense_out.data(), tp.dense);
  tp.sum = tp.dense_out;
  if (c.has_moe()) {
    moe_fwd(ctx, w, layer, x, tp.moe);  // the router and experts read x, not the normed m
    std::vector<float> routed_n(tp.sum.size());
    rms_norm_rows(tp.dense_out.data(), w.post_ffw_norm_1.data(), n, H, c.rms_eps, tp.sum.data());
    rms_norm_rows(tp.moe.routed.data(), w.post_ffw_norm_2.data(), n, H, c.rms_eps, routed_n.data());
    for (size_t i = 0; i < tp.sum.size(); ++i) tp.sum[i] += routed_n[i];
  }
  std::vector<float> out(tp.sum.size());
  rms_norm_rows(tp.sum.data(), w.post_ffw_norm.data(), n, H, c.rms_eps, out.data());
  for (size_t i = 0; i < x.size(); ++i) x[i] += out[i];
}

void ffn_bwd(PassContext& ctx, int layer, const FfnTape& tp, std::vector<float>& dx) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n, H = c.hidden_size;
  std::vector<float> dsum(tp.sum.size(), 0.0f);
  ctx.norm_rows_bwd(tp.sum.data(), w.post_ffw_norm, n, H, dx.data(), dsum.data());
  std::vector<float> ddense;
  if (c.has_moe()) {
    ddense.assign(dsum.size(), 0.0f);
    std::vector<float> drouted(dsum.size(), 0.0f);
    rms_norm_rows_bwd(tp.dense_out.data(), w.post_ffw_norm_1.data(), n, H, c.rms_eps, dsum.data(), ddense.data());
    rms_norm_rows_bwd(tp.moe.routed.data(), w.post_ffw_norm_2.data(), n, H, c.rms_eps, dsum.data(), drouted.data());
    moe_bwd(ctx, w, layer, tp.x, tp.moe, drouted, dx);
  } else {
    ddense = std::move(dsum);
  }
  std::vector<float> dm(static_cast<size_t>(n * H), 0.0f);
  geglu_bwd(ctx, {w.gate, w.up, w.down, layer}, tp.dense, n, ddense.data(), dm.data());
  ctx.norm_rows_bwd(tp.x.data(), w.ffn_norm, n, H, dm.data(), dx.data());
}

}  // namespace facet::train
