// The float64 reference forward pass of the Gemma 4 text decoder (spec §4), step by step.
// Weights and hyper-parameters come from reference_model.cpp.
#include "support/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "util/error.h"

namespace facet::test {
namespace {

using Vec = std::vector<double>;

// RMSNorm over the whole vector: x · (mean(x²) + eps)^(−1/2) · w. The weight is used as
// is — no "1 + w" (§3, §11.1). `weight == nullptr` is the scale-less norm (v_norm, router).
Vec rms_norm(const Vec& x, const Vec* weight, double eps) {
  double sum_sq = 0;
  for (double v : x) sum_sq += v * v;
  const double inv_rms = 1.0 / std::sqrt(sum_sq / double(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv_rms * (weight ? (*weight)[i] : 1.0);
  return y;
}

// GELU with the tanh approximation (gelu_pytorch_tanh, §4.6).
double gelu_tanh(double z) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * z * (1.0 + std::tanh(k * (z + 0.044715 * z * z * z)));
}

// RoPE with rotate-half ("NeoX") pairing (§4.5.1): element i pairs with i + D/2 and turns
// by θ_i = pos · inv_freq[i]. Pairs with inv_freq 0 (full-layer pass-through) stay put.
void apply_rope(Vec& x, int64_t pos, const Vec& inv_freq) {
  const size_t half = x.size() / 2;
  for (size_t i = 0; i < half; ++i) {
    const double theta = double(pos) * inv_freq[i];
    const double c = std::cos(theta), s = std::sin(theta);
    const double a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

Vec slice(const Vec& v, int64_t first, int64_t count) {
  return Vec(v.begin() + first, v.begin() + first + count);
}

// Dense GeGLU MLP (§4.6): down · (GELU_tanh(gate · u) ⊙ (up · u)).
Vec geglu(const RefMatrix& gate, const RefMatrix& up, const RefMatrix& down, const Vec& u) {
  Vec g = gate.times(u);
  const Vec v = up.times(u);
  for (size_t i = 0; i < g.size(); ++i) g[i] = gelu_tanh(g[i]) * v[i];
  return down.times(g);
}

// MoE routed experts (§4.7, §11.11). `x` is the residual stream after the attention add.
Vec moe_experts(const ReferenceLayer& w, const ReferenceConfig& c, const Vec& x) {
  // Router: scale-less RMSNorm, learned scale vector and H^(−1/2), then the projection.
  Vec n = rms_norm(x, nullptr, c.rms_eps);
  for (size_t i = 0; i < n.size(); ++i) n[i] *= w.router_scale[i] / std::sqrt(double(c.hidden));
  const Vec router_logits = w.router.times(n);
  // Softmax over ALL experts, then top-k, then renormalise, then per-expert scale.
  const double max_logit = *std::max_element(router_logits.begin(), router_logits.end());
  Vec prob(router_logits.size());
  double total = 0;
  for (size_t e = 0; e < prob.size(); ++e) total += prob[e] = std::exp(router_logits[e] - max_logit);
  for (double& p : prob) p /= total;
  std::vector<size_t> order(prob.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Ties go to the lower expert id (stable sort); real checkpoints leave ties to the backend.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prob[a] > prob[b]; });
  order.resize(static_cast<size_t>(c.n_experts_used));
  double selected_total = 0;
  for (size_t e : order) selected_total += prob[e];

  const Vec y = rms_norm(x, &w.pre_ffw_norm_2, c.rms_eps);
  Vec out(x.size(), 0.0);
  for (size_t e : order) {
    const double weight = prob[e] / selected_total * w.per_expert_scale[e];
    const Vec h = geglu(w.expert_gate[e], w.expert_up[e], w.expert_down[e], y);
    for (size_t i = 0; i < out.size(); ++i) out[i] += weight * h[i];
  }
  return out;
}

}  // namespace

// §4.2: one P-vector per layer for this token: ((W_plp·x0)/√H, RMSNorm'd per layer,
// plus the token's row ×√P) × 2^(−1/2). Layer-major: layer ℓ owns columns ℓ·P … ℓ·P+P−1.
std::vector<std::vector<double>> ReferenceModel::per_layer_inputs(int32_t token,
                                                                  const Vec& x0) const {
  const ReferenceConfig& c = config_;
  const int64_t P = c.ple_dim;
  const Vec context = per_layer_model_proj_.times(x0);
  const double* token_part = per_layer_token_embd_.row(token);
  std::vector<Vec> ple;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    Vec c_l = slice(context, l * P, P);
    for (double& v : c_l) v /= std::sqrt(double(c.hidden));
    c_l = rms_norm(c_l, &per_layer_proj_norm_, c.rms_eps);
    Vec p(static_cast<size_t>(P));
    for (int64_t i = 0; i < P; ++i)
      p[size_t(i)] = (c_l[size_t(i)] + token_part[l * P + i] * std::sqrt(double(P))) / std::sqrt(2.0);
    ple.push_back(std::move(p));
  }
  return ple;
}

std::vector<std::vector<double>> ReferenceModel::forward(const std::vector<int32_t>& tokens, ReferenceTrace* trace,
                                                         const std::map<int64_t, std::vector<double>>* media,
                                                         const std::vector<std::pair<int64_t, int64_t>>& image_blocks) const {
  auto same_block = [&](int64_t i, int64_t j) {
    for (const auto& [first, count] : image_blocks)
      if (i >= first && i < first + count && j >= first && j < first + count) return true;
    return false;
  };
  const ReferenceConfig& c = config_;
  const int64_t T = static_cast<int64_t>(tokens.size()), H = c.hidden, L = c.n_layers;
  for (int32_t tok : tokens)
    require(tok >= 0 && tok < c.vocab, "reference: token id ", tok, " out of range");

  // §4.1 embedding × √H (rounded to bf16 only for BF16 tables, see embedding_scale).
  std::vector<Vec> x(static_cast<size_t>(T));
  std::vector<std::vector<Vec>> ple(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    const auto soft = media ? media->find(t) : std::map<int64_t, Vec>::const_iterator{};
    const bool is_media = media && soft != media->end();
    const int32_t token = is_media ? 0 : tokens[size_t(t)];  // §9.3: placeholders as pad
    const double* e = token_embd_.row(token);
    x[size_t(t)] = Vec(e, e + H);
    for (double& v : x[size_t(t)]) v *= c.embedding_scale;
    if (is_media) {
      require(static_cast<int64_t>(soft->second.size()) == H, "reference: a soft token row must be H wide");
      x[size_t(t)] = soft->second;
    }
    if (c.ple_dim > 0) ple[size_t(t)] = per_layer_inputs(token, x[size_t(t)]);
  }
  if (trace) {
    *trace = ReferenceTrace{};
    trace->embedding = x;
    trace->ple = ple;
  }

  // Post-RoPE K and post-v_norm V of every KV-owning layer: [layer][position][Nkv·D] (§5).
  std::vector<std::vector<Vec>> keys(static_cast<size_t>(L)), values(static_cast<size_t>(L));

  for (int64_t l = 0; l < L; ++l) {
    const size_t li = size_t(l);
    const ReferenceLayer& w = layers_[li];
    const int64_t D = c.head_dim(l), Nq = c.n_heads[li];
    const int64_t source = c.kv_source[li], Nkv = c.n_kv_heads[size_t(source)];
    const bool sliding = c.is_sliding[li];
    const Vec& inv_freq = sliding ? c.inv_freq_sliding : c.inv_freq_full;
    require(Nq % Nkv == 0, "reference: layer ", l, ": ", Nq, " heads over ", Nkv, " KV heads");

    // Attention input and Q (§4.5 step 1): per-head q_norm, then the kind's RoPE.
    std::vector<Vec> a(static_cast<size_t>(T)), q(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      a[size_t(t)] = rms_norm(x[size_t(t)], &w.attn_norm, c.rms_eps);
      const Vec q_all = w.attn_q.times(a[size_t(t)]);
      for (int64_t h = 0; h < Nq; ++h) {
        Vec qh = rms_norm(slice(q_all, h * D, D), &w.q_norm, c.rms_eps);
        apply_rope(qh, t, inv_freq);
        q[size_t(t)].insert(q[size_t(t)].end(), qh.begin(), qh.end());
      }
    }
    // K and V (step 2), only on KV-owning layers. K=V layers: vraw = the raw k projection.
    if (source == l) {
      for (int64_t t = 0; t < T; ++t) {
        const Vec k_raw = w.attn_k.times(a[size_t(t)]);
        const Vec v_raw = w.attn_v.empty() ? k_raw : w.attn_v.times(a[size_t(t)]);
        Vec k_all, v_all;
        for (int64_t g = 0; g < Nkv; ++g) {
          Vec kg = rms_norm(slice(k_raw, g * D, D), &w.k_norm, c.rms_eps);
          apply_rope(kg, t, inv_freq);
          const Vec vg = rms_norm(slice(v_raw, g * D, D), nullptr, c.rms_eps);  // v_norm
          k_all.insert(k_all.end(), kg.begin(), kg.end());
          v_all.insert(v_all.end(), vg.begin(), vg.end());
        }
        keys[li].push_back(std::move(k_all));
        values[li].push_back(std::move(v_all));
      }
    }
    const std::vector<Vec>& K = keys[size_t(source)];
    const std::vector<Vec>& V = values[size_t(source)];

    for (int64_t i = 0; i < T; ++i) {
      // Steps 3–5: GQA head mapping, scale 1.0, causal (+ window) mask, softmax, p·V.
      Vec attn_heads(size_t(Nq * D), 0.0);
      for (int64_t h = 0; h < Nq; ++h) {
        const int64_t kv = h / (Nq / Nkv);
        std::vector<int64_t> visible;
        for (int64_t j = 0; j < T; ++j)
          if ((j <= i && (!sliding || i - j < c.sliding_window)) || same_block(i, j)) visible.push_back(j);
        Vec score;
        for (int64_t j : visible) {
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += q[size_t(i)][size_t(h * D + d)] * K[size_t(j)][size_t(kv * D + d)];
          score.push_back(s);
        }
        const double max_score = *std::max_element(score.begin(), score.end());
        double total = 0;
        for (double& s : score) total += s = std::exp(s - max_score);
        for (size_t n = 0; n < visible.size(); ++n) {
          const double p = score[n] / total;
          for (int64_t d = 0; d < D; ++d)
            attn_heads[size_t(h * D + d)] += p * V[size_t(visible[n])][size_t(kv * D + d)];
        }
      }
      // §4.4: o_proj, post-attention norm, residual add.
      const Vec attn_out = rms_norm(w.attn_output.times(attn_heads), &w.post_attention_norm, c.rms_eps);
      Vec& xi = x[size_t(i)];
      for (int64_t k = 0; k < H; ++k) xi[size_t(k)] += attn_out[size_t(k)];

      // Feed-forward: dense MLP, plus the MoE branch in parallel (router reads xi).
      Vec m = geglu(w.ffn_gate, w.ffn_up, w.ffn_down, rms_norm(xi, &w.ffn_norm, c.rms_eps));
      if (c.n_experts > 0) {
        const Vec m1 = rms_norm(m, &w.post_ffw_norm_1, c.rms_eps);
        const Vec e = rms_norm(moe_experts(w, c, xi), &w.post_ffw_norm_2, c.rms_eps);
        for (size_t k = 0; k < m.size(); ++k) m[k] = m1[k] + e[k];
      }
      m = rms_norm(m, &w.post_ffw_norm, c.rms_eps);
      for (int64_t k = 0; k < H; ++k) xi[size_t(k)] += m[size_t(k)];

      // Per-layer embedding injection (§4.4, PLE variants).
      if (c.ple_dim > 0) {
        Vec g = w.inp_gate.times(xi);
        for (size_t k = 0; k < g.size(); ++k) g[k] = gelu_tanh(g[k]) * ple[size_t(i)][li][k];
        const Vec p = rms_norm(w.proj.times(g), &w.post_norm, c.rms_eps);
        for (int64_t k = 0; k < H; ++k) xi[size_t(k)] += p[size_t(k)];
      }
      // layer_scalar multiplies the whole residual stream (§11.12).
      for (double& v : xi) v *= w.layer_output_scale;
    }
    if (trace) trace->layer_out.push_back(x);
  }

  // §4.8: final norm, tied LM head, soft-cap.
  const RefMatrix& head = output_.empty() ? token_embd_ : output_;
  std::vector<Vec> logits;
  for (int64_t t = 0; t < T; ++t) {
    const Vec n = rms_norm(x[size_t(t)], &output_norm_, c.rms_eps);
    if (trace) trace->final_norm.push_back(n);
    Vec row = head.times(n);
    if (c.final_logit_softcap > 0)
      for (double& v : row) v = c.final_logit_softcap * std::tanh(v / c.final_logit_softcap);
    logits.push_back(std::move(row));
  }
  return logits;
}

}  // namespace facet::test
