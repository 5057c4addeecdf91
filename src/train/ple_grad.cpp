// Per-layer-embedding block in training (spec §4.4): x += norm(proj(gelu(gate(x)) * ple_l)),
// plus the pass context's adapted-linear helpers and row-wise norm helpers.
#include "kernels/elementwise.h"
#include "train/decoder_blocks.h"

namespace facet::train {

void PassContext::linear(int layer, LoraTarget t, const WeightMatrix& w, const float* x, int64_t rows,
                         float* y) const {
  linear_fwd(w, adapter(layer, t), lora_scale(), dropout, {dropout_seed, layer, t}, x, rows, y, &pool);
}

void PassContext::linear_grad(int layer, LoraTarget t, const WeightMatrix& w, const float* x, int64_t rows,
                              const float* dy, float* dx) {
  linear_bwd(w, adapter(layer, t), lora_scale(), dropout, {dropout_seed, layer, t}, x, rows, dy, dx, &pool);
}

void rms_norm_rows(const float* x, const float* weight, int64_t rows, int64_t width, double eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) rms_norm(x + t * width, weight, width, eps, y + t * width);
}

void rms_norm_rows_bwd(const float* x, const float* weight, int64_t rows, int64_t width, double eps,
                       const float* dy, float* dx) {
  for (int64_t t = 0; t < rows; ++t) rms_norm_bwd(x + t * width, weight, width, eps, dy + t * width, dx + t * width);
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
  rms_norm_rows_bwd(tp.proj.data(), w.ple_post_norm.data(), n, H, c.rms_eps, dx.data(), dproj.data());
  ctx.linear_grad(layer, LoraTarget::PleProj, w.ple_proj, tp.hidden.data(), n, dproj.data(), dhidden.data());
  // The per-layer input is a constant here: it depends only on the frozen embeddings.
  std::vector<float> dgate(tp.gate.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < P; ++i) {
      const size_t j = static_cast<size_t>(t * P + i);
      dgate[j] = dhidden[j] * ctx.ple[static_cast<size_t>(t * LP + layer * P + i)] * gelu_tanh_grad(tp.gate[j]);
    }
  ctx.linear_grad(layer, LoraTarget::PleGate, w.ple_gate, tp.x.data(), n, dgate.data(), dx.data());
}

}  // namespace facet::train
