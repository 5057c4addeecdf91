// The vision tower's forward pass (spec §9.1), f32 activations: patch embedding with 2-D
// position tables, encoder layers (sandwich norms, q/k norms with weights, scale-less v
// norm, 2-D RoPE, bidirectional attention with scale 1, GeGLU), 3x3 average pooling ×
// √Hv, standardisation (large towers), scale-less RMSNorm and the projection.
#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/vision.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

// cos and sin of the rotate-half RoPE of one half of a head (size `half`, pairs (j, j + half/2))
// at positions 0 .. count-1: [position][pair], computed once per image (every head, layer and
// patch of a row or column shares them; per element, libm's pow/sincos were 4% of an encode).
struct RopeTable {
  int pairs = 0;
  std::vector<float> cos, sin;
  RopeTable(int64_t count, int half, double theta) : pairs(half / 2) {
    for (int64_t p = 0; p < count; ++p)
      for (int j = 0; j < pairs; ++j) {
        const double angle = static_cast<double>(p) * std::pow(theta, -2.0 * j / half);
        cos.push_back(static_cast<float>(std::cos(angle)));
        sin.push_back(static_cast<float>(std::sin(angle)));
      }
  }
  // Rotates v (one half of a head) to `position`.
  void apply(float* v, int64_t position) const {
    const float* c = cos.data() + position * pairs;
    const float* s = sin.data() + position * pairs;
    for (int j = 0; j < pairs; ++j) {
      const float a = v[j], b = v[j + pairs];
      v[j] = a * c[j] - b * s[j];
      v[j + pairs] = b * c[j] + a * s[j];
    }
  }
};

// Bidirectional attention of every patch over every patch, one head at a time. The scores
// of a query are a sum over the head's 64 dimensions of q_d times the keys' column d: with the
// keys transposed that is 64 vector FMAs along the keys (accumulate_transposed), where a dot
// product per (query, key) spent more on each sum's horizontal add than on its 4 vector FMAs.
// The weighted sum of the values runs through matmul (queries as tokens). Returns [n, Hv].
// The buffers of one image's encode, kept from layer to layer: sized by the first layer, then
// reused as they are (new vectors per layer cost page faults and zeroing of up to 30 MB each,
// a fifth of a 2394-patch image's encode).
struct VisionScratch {
  std::vector<float> x, q, k, v, attn, out, y, gate, up;    // [n, width] activations
  std::vector<float> qh, kt, vt, part, scores;              // one head's attention
  const RopeTable* rope = nullptr;                          // positions up to the larger grid side
};

void attention(const VisionConfig& c, const std::vector<float>& q, const std::vector<float>& k,
               const std::vector<float>& v, int64_t n, ThreadPool& pool, VisionScratch& s) {
  const int64_t Hv = c.hidden_size, D = c.head_dim;
  std::vector<float>& out = s.attn;
  out.resize(static_cast<size_t>(n * Hv));
  std::vector<float> &qh = s.qh, &kt = s.kt, &vt = s.vt, &part = s.part, &scores = s.scores;
  for (auto* b : {&qh, &kt, &vt}) b->resize(static_cast<size_t>(n * D));
  const int64_t chunk = 512;  // queries per pass: bounds the score buffer at chunk × n
  for (int64_t h = 0; h < c.n_heads; ++h) {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t d = 0; d < D; ++d) {
        qh[static_cast<size_t>(t * D + d)] = q[static_cast<size_t>(t * Hv + h * D + d)];
        kt[static_cast<size_t>(d * n + t)] = k[static_cast<size_t>(t * Hv + h * D + d)];
        vt[static_cast<size_t>(d * n + t)] = v[static_cast<size_t>(t * Hv + h * D + d)];
      }
    const WeightMatrix values_t = f32_matrix(vt, D, n);
    for (int64_t first = 0; first < n; first += chunk) {
      const int64_t rows = std::min(chunk, n - first);
      scores.resize(static_cast<size_t>(rows * n));
      pool.parallel_for(rows, [&](int64_t b, int64_t e) {  // scale 1.0
        std::fill(scores.begin() + b * n, scores.begin() + e * n, 0.0f);
        accumulate_transposed(kt.data(), D, n, qh.data() + (first + b) * D, D, e - b, scores.data() + b * n, n);
        for (int64_t r = b; r < e; ++r) softmax(scores.data() + r * n, n);
      }, 4);
      part.resize(static_cast<size_t>(rows * D));
      matmul(values_t, scores.data(), rows, part.data(), &pool);
      for (int64_t r = 0; r < rows; ++r)
        std::copy_n(part.data() + r * D, D, out.data() + (first + r) * Hv + h * D);
    }
  }
}

void add_normed(std::vector<float>& h, const std::vector<float>& x, const std::vector<float>& weight, int64_t n,
                int64_t width, double eps) {
  std::vector<float> normed(static_cast<size_t>(width));
  for (int64_t t = 0; t < n; ++t) {
    rms_norm(x.data() + t * width, weight.data(), width, eps, normed.data());
    for (int64_t i = 0; i < width; ++i) h[static_cast<size_t>(t * width + i)] += normed[static_cast<size_t>(i)];
  }
}

void normed_rows(const std::vector<float>& h, const std::vector<float>& weight, int64_t n, int64_t width, double eps,
                 std::vector<float>& out) {
  out.resize(h.size());
  for (int64_t t = 0; t < n; ++t) rms_norm(h.data() + t * width, weight.data(), width, eps, out.data() + t * width);
}

void encoder_layer(const VisionConfig& c, const VisionLayerWeights& l, std::vector<float>& h, int64_t n, int cols,
                   ThreadPool& pool, VisionScratch& s) {
  const int64_t Hv = c.hidden_size, D = c.head_dim;
  normed_rows(h, l.ln1, n, Hv, c.rms_eps, s.x);
  std::vector<float> &q = s.q, &k = s.k, &v = s.v;
  clamped_linear_into(l.q, s.x, n, pool, q);
  clamped_linear_into(l.k, s.x, n, pool, k);
  clamped_linear_into(l.v, s.x, n, pool, v);
  const RopeTable& rope = *s.rope;
  pool.parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t px = t % cols, py = t / cols;
      for (int64_t head = 0; head < c.n_heads; ++head) {
        float* qv = q.data() + t * Hv + head * D;
        float* kv = k.data() + t * Hv + head * D;
        float* vv = v.data() + t * Hv + head * D;
        rms_norm(qv, l.q_norm.data(), D, c.rms_eps, qv);
        rms_norm(kv, l.k_norm.data(), D, c.rms_eps, kv);
        rms_norm(vv, nullptr, D, c.rms_eps, vv);
        // First half of the head turns with the column, second half with the row.
        rope.apply(qv, px);
        rope.apply(qv + D / 2, py);
        rope.apply(kv, px);
        rope.apply(kv + D / 2, py);
      }
    }
  });
  attention(c, q, k, v, n, pool, s);
  clamped_linear_into(l.out, s.attn, n, pool, s.out);
  add_normed(h, s.out, l.attn_post_norm, n, Hv, c.rms_eps);

  normed_rows(h, l.ln2, n, Hv, c.rms_eps, s.y);
  clamped_linear_into(l.gate, s.y, n, pool, s.gate);
  clamped_linear_into(l.up, s.y, n, pool, s.up);
  gelu_tanh_mul(s.gate.data(), s.up.data(), static_cast<int64_t>(s.gate.size()));
  clamped_linear_into(l.down, s.gate, n, pool, s.out);
  add_normed(h, s.out, l.ffn_post_norm, n, Hv, c.rms_eps);
}

}  // namespace

std::vector<float> encode_image(const VisionTower& tower, const ImagePatches& patches, ThreadPool& pool) {
  if (tower.encoder_free) return embed_image_encoder_free(*tower.encoder_free, patches, pool);
  const VisionConfig& c = tower.config;
  const VisionWeights& w = tower.weights;
  const int64_t Hv = c.hidden_size, Pv = c.patch_values(), k = c.pooling_kernel;
  const int rows = patches.patch_rows, cols = patches.patch_cols;
  const int64_t n = static_cast<int64_t>(rows) * cols;
  require(rows > 0 && cols > 0 && rows % k == 0 && cols % k == 0, "image patches: a ", rows, "x", cols,
          " grid does not pool into ", k, "x", k, " groups");
  require(static_cast<int64_t>(patches.values.size()) == n * Pv, "image patches: expected ", n * Pv,
          " values for ", n, " patches of ", Pv, ", found ", patches.values.size());
  require(rows <= c.position_table_size && cols <= c.position_table_size, "image patches: a ", rows, "x", cols,
          " grid exceeds the position table of ", c.position_table_size);

  // Patch embedding: pixels in [0, 1] -> [-1, 1], the projection, position rows x and y.
  std::vector<float> pixels(patches.values.size());
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = 2.0f * (patches.values[i] - 0.5f);
  std::vector<float> h(static_cast<size_t>(n * Hv));
  matmul(f32_matrix(w.patch_proj, Hv, Pv), pixels.data(), n, h.data(), &pool);
  for (int64_t t = 0; t < n; ++t) {
    const float* px = w.position_x.data() + (t % cols) * Hv;
    const float* py = w.position_y.data() + (t / cols) * Hv;
    for (int64_t i = 0; i < Hv; ++i) h[static_cast<size_t>(t * Hv + i)] += px[i] + py[i];
  }

  VisionScratch scratch;
  const RopeTable rope(std::max(rows, cols), static_cast<int>(c.head_dim / 2), c.rope_theta);
  scratch.rope = &rope;
  for (const VisionLayerWeights& layer : w.layers) encoder_layer(c, layer, h, n, cols, pool, scratch);

  // k x k average pooling in row-major order of the pooled grid, then × √Hv.
  const int prow = rows / static_cast<int>(k), pcol = cols / static_cast<int>(k);
  const int64_t tokens = static_cast<int64_t>(prow) * pcol;
  std::vector<float> pooled(static_cast<size_t>(tokens * Hv), 0.0f);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t target = ((t / cols) / k) * pcol + (t % cols) / k;
    for (int64_t i = 0; i < Hv; ++i) pooled[static_cast<size_t>(target * Hv + i)] += h[static_cast<size_t>(t * Hv + i)];
  }
  const float scale = static_cast<float>(std::sqrt(static_cast<double>(Hv)) / static_cast<double>(k * k));
  for (float& v : pooled) v *= scale;
  if (c.standardize)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t i = 0; i < Hv; ++i) {
        float& v = pooled[static_cast<size_t>(t * Hv + i)];
        v = (v - w.std_bias[static_cast<size_t>(i)]) * w.std_scale[static_cast<size_t>(i)];
      }
  for (int64_t t = 0; t < tokens; ++t) rms_norm(pooled.data() + t * Hv, nullptr, Hv, c.rms_eps, pooled.data() + t * Hv);
  std::vector<float> out(static_cast<size_t>(tokens * c.text_hidden_size));
  matmul(w.projection, pooled.data(), tokens, out.data(), &pool);
  return out;
}

}  // namespace facet
