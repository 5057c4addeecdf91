#include "train/expert_lora.h"

#include <algorithm>

#include "util/error.h"

namespace facet::train {
namespace {

// h = A_e x for one token: the rank-r projection that the forward and backward passes
// both start from.
void project_to_rank(const float* a, const float* x, int64_t r, int64_t in, std::vector<float>& h) {
  for (int64_t j = 0; j < r; ++j) {
    float sum = 0;
    for (int64_t c = 0; c < in; ++c) sum += a[j * in + c] * x[c];
    h[static_cast<size_t>(j)] = sum;
  }
}

}  // namespace

ExpertShape expert_target_shape(const ModelConfig& c, LoraTarget target) {
  if (!c.has_moe()) return {};
  const int64_t H = c.hidden_size, I = c.expert_ffn_width;
  if (target == LoraTarget::ExpertGateUp) return {c.n_experts, 2 * I, H};
  if (target == LoraTarget::ExpertDown) return {c.n_experts, H, I};
  fail("internal: ", lora_target_name(target), " is not an expert parameter");
}

const float* expert_a(const LoraWeights& w, int64_t e) { return &w.a[static_cast<size_t>(e * w.rank * w.in)]; }

std::vector<float> expert_b(const LoraWeights& w, int64_t e) {
  const int64_t r = w.rank, E = w.experts;
  std::vector<float> b(static_cast<size_t>(w.out * r));
  for (int64_t o = 0; o < w.out; ++o)
    for (int64_t j = 0; j < r; ++j) b[static_cast<size_t>(o * r + j)] = w.b[static_cast<size_t>(o * r * E + j * E + e)];
  return b;
}

void expert_lora_fwd(const LoraWeights& w, int64_t e, double scale, int64_t row0, int64_t rows, const float* x,
                     int64_t n, float* y) {
  const int64_t r = w.rank, in = w.in, E = w.experts;
  const float* a = expert_a(w, e);
  const float s = static_cast<float>(scale);
  std::vector<float> h(static_cast<size_t>(r));
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * in;
    project_to_rank(a, xt, r, in, h);
    for (int64_t i = 0; i < rows; ++i) {
      const float* brow = &w.b[static_cast<size_t>((row0 + i) * r * E)];
      float sum = 0;
      for (int64_t j = 0; j < r; ++j) sum += brow[j * E + e] * h[static_cast<size_t>(j)];
      y[t * rows + i] += s * sum;
    }
  }
}

void expert_lora_bwd(LoraWeights& w, int64_t e, double scale, int64_t row0, int64_t rows, const float* x, int64_t n,
                     const float* dy, float* dx) {
  const int64_t r = w.rank, in = w.in, E = w.experts;
  const float* a = expert_a(w, e);
  float* ga = &w.grad_a[static_cast<size_t>(e * r * in)];
  const float s = static_cast<float>(scale);
  std::vector<float> h(static_cast<size_t>(r)), gh(static_cast<size_t>(r));
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * in;
    project_to_rank(a, xt, r, in, h);
    // dB_e[o, j] += s dy[o] h[j]; g_h[j] = s Σ_o dy[o] B_e[o, j].
    std::fill(gh.begin(), gh.end(), 0.0f);
    for (int64_t i = 0; i < rows; ++i) {
      const float g = s * dy[t * rows + i];
      if (g == 0.0f) continue;
      const size_t base = static_cast<size_t>((row0 + i) * r * E + e);
      for (int64_t j = 0; j < r; ++j) {
        w.grad_b[base + static_cast<size_t>(j * E)] += g * h[static_cast<size_t>(j)];
        gh[static_cast<size_t>(j)] += g * w.b[base + static_cast<size_t>(j * E)];
      }
    }
    // dA_e[j] += g_h[j] x; dx += g_h A_e.
    float* dxt = dx + t * in;
    for (int64_t j = 0; j < r; ++j) {
      const float g = gh[static_cast<size_t>(j)];
      if (g == 0.0f) continue;
      for (int64_t c = 0; c < in; ++c) {
        ga[j * in + c] += g * xt[c];
        dxt[c] += g * a[j * in + c];
      }
    }
  }
}

void add_expert_delta_row(const LoraWeights& w, int64_t e, double scale, int64_t row, double* delta) {
  const int64_t r = w.rank, in = w.in, E = w.experts;
  const float* a = expert_a(w, e);
  for (int64_t j = 0; j < r; ++j) {
    const double coef = scale * w.b[static_cast<size_t>(row * r * E + j * E + e)];
    if (coef == 0) continue;
    for (int64_t c = 0; c < in; ++c) delta[c] += coef * a[j * in + c];
  }
}

}  // namespace facet::train
