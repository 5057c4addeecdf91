#include "model/model_inputs.h"

#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "tensor/convert.h"

namespace facet {

RopeAngles rope_angles(const RopeConfig& r, int64_t first_position, int64_t n_tokens) {
  RopeAngles a;
  a.pairs = r.rotated_pairs;
  a.half = r.head_dim / 2;
  a.cos.resize(static_cast<size_t>(n_tokens * a.pairs));
  a.sin.resize(a.cos.size());
  for (int i = 0; i < a.pairs; ++i) {
    // inv_freq keeps the full head size in the exponent (spec §4.5.1, pitfall 3).
    const double inv_freq = std::pow(r.theta, -2.0 * i / r.head_dim) / r.freq_factors[static_cast<size_t>(i)];
    for (int64_t t = 0; t < n_tokens; ++t) {
      const double angle = static_cast<double>(first_position + t) * inv_freq;
      a.cos[static_cast<size_t>(t * a.pairs + i)] = static_cast<float>(std::cos(angle));
      a.sin[static_cast<size_t>(t * a.pairs + i)] = static_cast<float>(std::sin(angle));
    }
  }
  return a;
}

std::vector<float> embed_tokens(const Model& model, const std::vector<int32_t>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size()), H = model.config.hidden_size;
  const TensorView& embd = model.weights.token_embd;
  std::vector<float> x(static_cast<size_t>(n * H));
  for (int64_t t = 0; t < n; ++t) {
    float* row = &x[static_cast<size_t>(t * H)];
    row_to_f32(embd.dtype, embd.row(tokens[static_cast<size_t>(t)]), row, H);
    for (int64_t i = 0; i < H; ++i) row[i] *= model.embedding_scale;
  }
  return x;
}

std::vector<float> per_layer_inputs(const Model& model, const std::vector<int32_t>& tokens,
                                    const std::vector<float>& x0, ThreadPool& pool) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const int64_t n = static_cast<int64_t>(tokens.size()), H = c.hidden_size, P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
  // Context part: projection of the scaled embeddings × 1/√H, RMSNorm per layer slice.
  std::vector<float> ple(static_cast<size_t>(n * LP));
  matmul(w.ple_model_proj, x0.data(), n, ple.data(), &pool);
  const float inv_sqrt_h = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H)));
  const float sqrt_p = static_cast<float>(std::sqrt(static_cast<double>(P)));
  const float inv_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
  std::vector<float> token_part(static_cast<size_t>(LP));
  for (int64_t t = 0; t < n; ++t) {
    float* row = &ple[static_cast<size_t>(t * LP)];
    for (int64_t i = 0; i < LP; ++i) row[i] *= inv_sqrt_h;
    for (int64_t l = 0; l < c.n_layers; ++l) rms_norm(row + l * P, w.ple_proj_norm.data(), P, c.rms_eps, row + l * P);
    // Token part: one row of the big table, read straight from the map (never copied whole).
    row_to_f32(w.ple_token_embd.dtype, w.ple_token_embd.row(tokens[static_cast<size_t>(t)]), token_part.data(), LP);
    for (int64_t i = 0; i < LP; ++i) row[i] = (row[i] + token_part[static_cast<size_t>(i)] * sqrt_p) * inv_sqrt2;
  }
  return ple;
}

}  // namespace facet
