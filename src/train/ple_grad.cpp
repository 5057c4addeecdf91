// Per-layer-embedding block in training (spec §4.4): x += norm(proj(gelu(gate(x)) * ple_l)),
// plus the pass context's adapted-linear helpers and row-wise norm helpers.
#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "train/decoder_blocks.h"
#include "util/thread_pool.h"

namespace facet::train {

void PassContext::linear(int layer, LoraTarget t, const WeightMatrix& w, const float* x, int64_t rows,
                         float* y) const {
  linear_fwd(w, adapter(layer, t), lora_scale(), dropout, {dropout_seed, layer, t}, x, rows, y, &pool);
}

void PassContext::linear_grad(int layer, LoraTarget t, const WeightMatrix& w, const float* x, int64_t rows,
                              const float* dy, float* dx) {
  linear_bwd(w, adapter(layer, t), lora_scale(), dropout, {dropout_seed, layer, t}, x, rows, dy, dx, &pool);
  if (std::vector<float>* dw = grad_of(w.data)) add_weight_grad(x, dy, rows, w.cols, w.rows, dw->data(), pool);
}

void PassContext::norm_rows_bwd(const float* x, const std::vector<float>& weight, int64_t rows, int64_t width,
                                const float* dy, float* dx) const {
  const double eps = model.config.rms_eps;
  rms_norm_rows_bwd(x, weight.data(), rows, width, eps, dy, dx);
  if (std::vector<float>* dw = grad_of(weight.data())) rms_norm_rows_weight_grad(x, rows, width, eps, dy, dw->data());
}

void rms_norm_rows(const float* x, const float* weight, int64_t rows, int64_t width, double eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) rms_norm(x + t * width, weight, width, eps, y + t * width);
}

void rms_norm_rows_bwd(const float* x, const float* weight, int64_t rows, int64_t width, double eps,
                       const float* dy, float* dx) {
  for (int64_t t = 0; t < rows; ++t) rms_norm_bwd(x + t * width, weight, width, eps, dy + t * width, dx + t * width);
}

void rms_norm_rows_weight_grad(const float* x, int64_t rows, int64_t width, double eps, const float* dy, float* dw) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xt = x + t * width;
    const float* dyt = dy + t * width;
    double ss = 0;
    for (int64_t i = 0; i < width; ++i) ss += static_cast<double>(xt[i]) * xt[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(width) + eps);
    for (int64_t i = 0; i < width; ++i) dw[i] += static_cast<float>(static_cast<double>(dyt[i]) * xt[i] * inv);
  }
}

void add_weight_grad(const float* x, const float* dy, int64_t n, int64_t in, int64_t out, float* dw,
                     ThreadPool& pool) {
  // dW[o][i] += sum_t dy[t][o] x[t][i], rows of dW split over the threads (each row's terms
  // come in token order whatever the split). Tokens go a block at a time so the block of x
  // stays in cache while every output row passes over it; a dW element still gets its terms
  // in token order, so the blocks change nothing but the speed.
  constexpr int64_t kTokenBlock = 64;
  pool.parallel_for(out, [&](int64_t o0, int64_t o1) {
    for (int64_t t0 = 0; t0 < n; t0 += kTokenBlock) {
      const int64_t m = std::min(kTokenBlock, n - t0);
      accumulate_outer_products(x + t0 * in, m, in, dy + t0 * out, out, o0, o1, dw);
    }
  }, 16);
}

void ple_fwd(PassContext& ctx, int layer, std::vector<float>& x, PleTape* tape) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n, H = c.hidden_size, P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
  PleTape local;
  PleTape& tp = tape ? *tape : local;
  tp.x = x;
  tp.gate.resize(static_cast<size_t>(n * P));
  tp.hidden.resize(tp.gate.size());
  tp.proj.resize(static_cast<size_t>(n * H));
  ctx.linear(layer, LoraTarget::PleGate, w.ple_gate, x.data(), n, tp.gate.data());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < P; ++i) {
      const size_t j = static_cast<size_t>(t * P + i);
      tp.hidden[j] = gelu_tanh(tp.gate[j]) * ctx.ple[static_cast<size_t>(t * LP + layer * P + i)];
    }
  ctx.linear(layer, LoraTarget::PleProj, w.ple_proj, tp.hidden.data(), n, tp.proj.data());
  std::vector<float> out(tp.proj.size());
  rms_norm_rows(tp.proj.data(), w.ple_post_norm.data(), n, H, c.rms_eps, out.data());
  for (size_t i = 0; i < x.size(); ++i) x[i] += out[i];
}

void ple_bwd(PassContext& ctx, int layer, const PleTape& tp, std::vector<float>& dx) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n, H = c.hidden_size, P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
  std::vector<float> dproj(tp.proj.size(), 0.0f), dhidden(tp.hidden.size(), 0.0f);
  ctx.norm_rows_bwd(tp.proj.data(), w.ple_post_norm, n, H, dx.data(), dproj.data());
  ctx.linear_grad(layer, LoraTarget::PleProj, w.ple_proj, tp.hidden.data(), n, dproj.data(), dhidden.data());
  // The per-layer input depends only on the embeddings: constant unless they are trained
  // (full training), when its gradient is collected in ctx.dple for the embedding step.
  std::vector<float> dgate(tp.gate.size());
  const bool want_dple = !ctx.dple.empty();
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < P; ++i) {
      const size_t j = static_cast<size_t>(t * P + i), pj = static_cast<size_t>(t * LP + layer * P + i);
      dgate[j] = dhidden[j] * ctx.ple[pj] * gelu_tanh_grad(tp.gate[j]);
      if (want_dple) ctx.dple[pj] += dhidden[j] * gelu_tanh(tp.gate[j]);
    }
  ctx.linear_grad(layer, LoraTarget::PleGate, w.ple_gate, tp.x.data(), n, dgate.data(), dx.data());
}

}  // namespace facet::train
