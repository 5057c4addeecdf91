// Feed-forward half of a decoder layer (spec §4.4, §4.6, §4.7):
//   m = MLP(ffn_norm(x)); with MoE: m = post_ffw_norm_1(m) + post_ffw_norm_2(Experts(...));
//   x += post_ffw_norm(m)
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"

namespace facet {
namespace {

// GeGLU: down(gelu_tanh(gate(u)) * up(u)) for n tokens.
void geglu(const WeightMatrix& gate_w, const WeightMatrix& up_w, const WeightMatrix& down_w, const float* u,
           int64_t n, float* out, ThreadPool* pool) {
  const int64_t I = gate_w.rows, size = n * I;
  // Scratch kept between calls and never zeroed (the matmuls overwrite it): fresh vectors
  // cost two value-initialised 12 MiB buffers per layer of an E2B 512-token prompt.
  // Named references: inside the pool's lambda a thread_local name would mean the worker's own.
  thread_local std::vector<float> gate_buffer, up_buffer;
  std::vector<float>& gate = gate_buffer;
  std::vector<float>& up = up_buffer;
  if (gate.size() < static_cast<size_t>(size)) {
    gate.resize(static_cast<size_t>(size));
    up.resize(static_cast<size_t>(size));
  }
  const MatmulOutput products[2] = {{&gate_w, gate.data()}, {&up_w, up.data()}};
  matmul_same_input(products, u, n, pool);
  // Element by element, with the same arithmetic wherever a chunk starts (see GeluTanhMul).
  auto activate = [&](int64_t begin, int64_t end) { gelu_tanh_mul(gate.data() + begin, up.data() + begin, end - begin); };
  if (pool != nullptr) pool->parallel_for(size, activate, int64_t{1} << 14);
  else activate(0, size);
  matmul(down_w, gate.data(), n, out, pool);
}

struct Routing {
  std::vector<int> experts;      // top-k expert ids
  std::vector<float> weights;    // their renormalised, per-expert-scaled weights
};

// Router (spec §4.7): weightless RMSNorm of x, × router.scale × H^-1/2, projection,
// softmax over all experts, top-k, renormalise, × per-expert scale.
Routing route(const ModelConfig& c, const LayerWeights& w, const float* x) {
  const int64_t H = c.hidden_size;
  std::vector<float> n(static_cast<size_t>(H));
  rms_norm(x, nullptr, H, c.rms_eps, n.data());
  const float inv_sqrt_h = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H)));
  for (int64_t i = 0; i < H; ++i) n[static_cast<size_t>(i)] *= w.router_scale[static_cast<size_t>(i)] * inv_sqrt_h;
  std::vector<float> probs(static_cast<size_t>(c.n_experts));
  matmul(w.router, n.data(), 1, probs.data(), nullptr);
  softmax(probs.data(), c.n_experts);
  std::vector<int> order(static_cast<size_t>(c.n_experts));
  std::iota(order.begin(), order.end(), 0);
  // Ties go to the lower expert id (stable order).
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return probs[static_cast<size_t>(a)] > probs[static_cast<size_t>(b)]; });
  Routing r;
  r.experts.assign(order.begin(), order.begin() + c.n_experts_used);
  double sum = 0;
  for (int e : r.experts) sum += probs[static_cast<size_t>(e)];
  for (int e : r.experts)
    r.weights.push_back(static_cast<float>(probs[static_cast<size_t>(e)] / sum) * w.expert_scale[static_cast<size_t>(e)]);
  return r;
}

// Routed experts for all tokens; tokens are grouped per expert so each expert's weights
// are read once per batch.
void experts(ForwardContext& ctx, const LayerWeights& w, const std::vector<float>& x, std::vector<float>& out) {
  const ModelConfig& c = ctx.model.config;
  const int64_t n = ctx.n_tokens, H = c.hidden_size;
  std::vector<float> y(static_cast<size_t>(n * H));
  std::vector<std::vector<std::pair<int64_t, float>>> assigned(static_cast<size_t>(c.n_experts));
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = &x[static_cast<size_t>(t * H)];
    rms_norm(xt, w.pre_ffw_norm_2.data(), H, c.rms_eps, &y[static_cast<size_t>(t * H)]);
    Routing r = route(c, w, xt);
    for (size_t k = 0; k < r.experts.size(); ++k) assigned[static_cast<size_t>(r.experts[k])].push_back({t, r.weights[k]});
  }
  out.assign(static_cast<size_t>(n * H), 0.0f);
  std::vector<float> in, result;
  for (int e = 0; e < c.n_experts; ++e) {
    const auto& tokens = assigned[static_cast<size_t>(e)];
    if (tokens.empty()) continue;
    const int64_t m = static_cast<int64_t>(tokens.size());
    in.resize(static_cast<size_t>(m * H));
    result.resize(static_cast<size_t>(m * H));
    for (int64_t i = 0; i < m; ++i)
      std::copy_n(&y[static_cast<size_t>(tokens[static_cast<size_t>(i)].first * H)], H, &in[static_cast<size_t>(i * H)]);
    const ExpertMatrices em = expert_matrices(c, w, e);  // with attached LoRA chains, if any
    geglu(em.gate, em.up, em.down, in.data(), m, result.data(), &ctx.pool);
    for (int64_t i = 0; i < m; ++i) {
      const auto [t, weight] = tokens[static_cast<size_t>(i)];
      float* ot = &out[static_cast<size_t>(t * H)];
      const float* rt = &result[static_cast<size_t>(i * H)];
      for (int64_t d = 0; d < H; ++d) ot[d] += weight * rt[d];
    }
  }
}

}  // namespace

void feed_forward_block(ForwardContext& ctx, int layer, std::vector<float>& x) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n_tokens, H = c.hidden_size;

  std::vector<float> m(static_cast<size_t>(n * H)), dense(static_cast<size_t>(n * H));
  ctx.pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      rms_norm(&x[static_cast<size_t>(t * H)], w.ffn_norm.data(), H, c.rms_eps, &m[static_cast<size_t>(t * H)]);
  }, kTokensPerChunk);
  geglu(w.gate, w.up, w.down, m.data(), n, dense.data(), &ctx.pool);

  if (c.has_moe()) {
    // The router and experts read x (the residual after attention), not the normed m.
    std::vector<float> routed;
    experts(ctx, w, x, routed);
    for (int64_t t = 0; t < n; ++t) {
      float* dt = &dense[static_cast<size_t>(t * H)];
      float* rt = &routed[static_cast<size_t>(t * H)];
      rms_norm(dt, w.post_ffw_norm_1.data(), H, c.rms_eps, dt);
      rms_norm(rt, w.post_ffw_norm_2.data(), H, c.rms_eps, rt);
      for (int64_t i = 0; i < H; ++i) dt[i] += rt[i];
    }
  }
  add_normed_residual(ctx, dense, w.post_ffw_norm, x);
}

}  // namespace facet
