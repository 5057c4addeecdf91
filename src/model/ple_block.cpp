// Per-layer embeddings (spec §4.2) and their use at the end of each layer (§4.4).
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"
#include "tensor/convert.h"

namespace facet {

void ple_block(ForwardContext& ctx, int layer, std::vector<float>& x) {
  const ModelConfig& c = ctx.model.config;
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n_tokens, H = c.hidden_size, P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
  std::vector<float> g(static_cast<size_t>(n * P)), p(static_cast<size_t>(n * H));
  matmul(w.ple_gate, x.data(), n, g.data(), &ctx.pool);
  for (int64_t t = 0; t < n; ++t)
    gelu_tanh_mul(g.data() + t * P, ctx.ple.data() + t * LP + layer * P, P);
  matmul(w.ple_proj, g.data(), n, p.data(), &ctx.pool);
  add_normed_residual(ctx, p, w.ple_post_norm, x);
}

}  // namespace facet
