// Attention half of a decoder layer (spec §4.4, §4.5, §5):
//   a = post_attn_norm(Attention(attn_norm(x)));  x += a
// Q/K get their learned RMSNorm and RoPE; V gets the weightless RMSNorm; on K=V layers
// V is the raw K projection; KV-shared layers read their source layer's K/V.
#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"

namespace facet {
namespace {

// K/V rows for a contiguous run of positions.
struct KvSpan {
  const float* k;
  const float* v;
  int64_t count;
};

// Attention of one query head over the spans (scale 1.0, no soft-cap: spec §4.5).
void attend(const float* q, const KvSpan* spans, int n_spans, int64_t row, int64_t kv_offset, int D,
            std::vector<float>& scores, float* out) {
  int64_t total = 0;
  for (int s = 0; s < n_spans; ++s) total += spans[s].count;
  scores.resize(static_cast<size_t>(total));
  int64_t j = 0;
  for (int s = 0; s < n_spans; ++s)
    for (int64_t i = 0; i < spans[s].count; ++i)
      scores[static_cast<size_t>(j++)] = dot_f32(q, spans[s].k + i * row + kv_offset, D);
  softmax(scores.data(), total);
  std::fill(out, out + D, 0.0f);
  j = 0;
  for (int s = 0; s < n_spans; ++s)
    for (int64_t i = 0; i < spans[s].count; ++i) {
      const float p = scores[static_cast<size_t>(j++)];
      const float* v = spans[s].v + i * row + kv_offset;
      for (int d = 0; d < D; ++d) out[d] += p * v[d];
    }
}

}  // namespace

void attention_block(ForwardContext& ctx, int layer, std::vector<float>& x) {
  const ModelConfig& c = ctx.model.config;
  const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const int64_t n = ctx.n_tokens, H = c.hidden_size, D = lc.head_dim;
  const int n_heads = c.n_heads, n_kv = lc.n_kv_heads;
  const int64_t q_row = n_heads * D, kv_row = n_kv * D;
  const RopeAngles& rope = ctx.rope(lc.kind);

  std::vector<float> a(static_cast<size_t>(n * H));
  for (int64_t t = 0; t < n; ++t) rms_norm(&x[static_cast<size_t>(t * H)], w.attn_norm.data(), H, c.rms_eps, &a[static_cast<size_t>(t * H)]);

  std::vector<float> q(static_cast<size_t>(n * q_row));
  matmul(w.q, a.data(), n, q.data(), &ctx.pool);
  for (int64_t t = 0; t < n; ++t) {
    float* qt = &q[static_cast<size_t>(t * q_row)];
    for (int h = 0; h < n_heads; ++h) rms_norm(qt + h * D, w.q_norm.data(), D, c.rms_eps, qt + h * D);
    apply_rope(qt, n_heads, rope, t);
  }

  if (lc.owns_kv) {
    std::vector<float>& k = ctx.batch_k[static_cast<size_t>(layer)];
    std::vector<float>& v = ctx.batch_v[static_cast<size_t>(layer)];
    k.resize(static_cast<size_t>(n * kv_row));
    v.resize(static_cast<size_t>(n * kv_row));
    matmul(w.k, a.data(), n, k.data(), &ctx.pool);
    if (lc.k_eq_v) v = k;  // raw K projection, before k_norm and RoPE (pitfall 4)
    else matmul(w.v, a.data(), n, v.data(), &ctx.pool);
    for (int64_t t = 0; t < n; ++t) {
      float* kt = &k[static_cast<size_t>(t * kv_row)];
      float* vt = &v[static_cast<size_t>(t * kv_row)];
      for (int h = 0; h < n_kv; ++h) {
        rms_norm(kt + h * D, w.k_norm.data(), D, c.rms_eps, kt + h * D);
        rms_norm(vt + h * D, nullptr, D, c.rms_eps, vt + h * D);
      }
      apply_rope(kt, n_kv, rope, t);
    }
  }

  // Keys visible to token t: its window in the cache (earlier batches) and in this batch.
  const int src = lc.kv_source;
  const KvCache::Layer& cached = ctx.cache.layer(src);
  const std::vector<float>& batch_k = ctx.batch_k[static_cast<size_t>(src)];
  const std::vector<float>& batch_v = ctx.batch_v[static_cast<size_t>(src)];
  const int64_t p0 = ctx.first_position;
  const int group = n_heads / n_kv;  // consecutive query heads share a KV head

  std::vector<float> attn(static_cast<size_t>(n * q_row));
  ctx.pool.parallel_for(n * n_heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / n_heads;
      const int h = static_cast<int>(job % n_heads);
      const int64_t pos = p0 + t;
      const int64_t first = lc.kind == LayerKind::Sliding ? std::max<int64_t>(0, pos - c.sliding_window + 1) : 0;
      KvSpan spans[3];
      int n_spans = 0;
      // Cached positions [first, p0): contiguous, or split in two where a ring wraps.
      for (int64_t p = first; p < p0;) {
        const int64_t slot = KvCache::slot(cached, p);
        const int64_t run = std::min(p0 - p, cached.capacity - slot);
        spans[n_spans++] = {&cached.k[static_cast<size_t>(slot * kv_row)], &cached.v[static_cast<size_t>(slot * kv_row)], run};
        p += run;
      }
      const int64_t batch_first = std::max(first, p0) - p0;
      spans[n_spans++] = {&batch_k[static_cast<size_t>(batch_first * kv_row)],
                          &batch_v[static_cast<size_t>(batch_first * kv_row)], t - batch_first + 1};
      attend(&q[static_cast<size_t>(t * q_row + h * D)], spans, n_spans, kv_row, (h / group) * D,
             static_cast<int>(D), scores, &attn[static_cast<size_t>(t * q_row + h * D)]);
    }
  }, 4);

  std::vector<float> out(static_cast<size_t>(n * H));
  matmul(w.o, attn.data(), n, out.data(), &ctx.pool);
  add_normed_residual(ctx, out, w.post_attn_norm, x);
}

}  // namespace facet
