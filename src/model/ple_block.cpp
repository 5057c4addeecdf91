// Per-layer embeddings (spec §4.2) and their use at the end of each layer (§4.4).
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"
#include "tensor/convert.h"

namespace facet {

void compute_ple(ForwardContext& ctx, const std::vector<int32_t>& tokens, const std::vector<float>& x0) {
  const ModelConfig& c = ctx.model.config;
  const ModelWeights& w = ctx.model.weights;
  const int64_t n = ctx.n_tokens, H = c.hidden_size, P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
  // Context part: projection of the scaled embeddings × 1/√H, RMSNorm per layer slice.
  ctx.ple.resize(static_cast<size_t>(n * LP));
  matmul(w.ple_model_proj, x0.data(), n, ctx.ple.data(), &ctx.pool);
  const float inv_sqrt_h = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H)));
  const float sqrt_p = static_cast<float>(std::sqrt(static_cast<double>(P)));
  const float inv_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
  std::vector<float> token_part(static_cast<size_t>(LP));
  for (int64_t t = 0; t < n; ++t) {
    float* row = &ctx.ple[static_cast<size_t>(t * LP)];
    for (int64_t i = 0; i < LP; ++i) row[i] *= inv_sqrt_h;
    for (int64_t l = 0; l < c.n_layers; ++l) rms_norm(row + l * P, w.ple_proj_norm.data(), P, c.rms_eps, row + l * P);
    // Token part: one row of the big table, read straight from the map (never copied whole).
    row_to_f32(w.ple_token_embd.dtype, w.ple_token_embd.row(tokens[static_cast<size_t>(t)]), token_part.data(), LP);
    for (int64_t i = 0; i < LP; ++i) row[i] = (row[i] + token_part[static_cast<size_t>(i)] * sqrt_p) * inv_sqrt2;
  }
}

void ple_block(ForwardContext& ctx, int layer, std::vector<float>& x) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n_tokens, H = c.hidden_size, P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
  std::vector<float> g(static_cast<size_t>(n * P)), p(static_cast<size_t>(n * H));
  matmul(w.ple_gate, x.data(), n, g.data(), &ctx.pool);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < P; ++i) {
      float& gi = g[static_cast<size_t>(t * P + i)];
      gi = gelu_tanh(gi) * ctx.ple[static_cast<size_t>(t * LP + layer * P + i)];
    }
  matmul(w.ple_proj, g.data(), n, p.data(), &ctx.pool);
  add_normed_residual(ctx, p, w.ple_post_norm, x);
}

}  // namespace facet
