// Attention half of a decoder layer in training (spec §4.4, §4.5, §5), forward with tape
// and backward. K=V layers take V from the raw K projection, so K's projection receives
// both paths' gradient; KV-shared layers read the source layer's K/V and add their
// gradient to the source's accumulators (ctx.dk / ctx.dv).
#include <algorithm>

#include "kernels/elementwise.h"
#include "train/decoder_blocks.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

struct Shape {
  int64_t n, H, D, q_row, kv_row;
  int n_heads, n_kv, group;
};

Shape shape_of(const PassContext& ctx, int layer) {
  const ModelConfig& c = ctx.model.config;
  const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
  Shape s{};
  s.n = ctx.n;
  s.H = c.hidden_size;
  s.D = lc.head_dim;
  s.n_heads = c.n_heads;
  s.n_kv = lc.n_kv_heads;
  s.group = s.n_heads / s.n_kv;
  s.q_row = s.n_heads * s.D;
  s.kv_row = s.n_kv * s.D;
  return s;
}

// First key row visible to the query in row t: its example's first token, or the start
// of the sliding window if that is later. Rows are positions within the example plus its
// offset, so the window spans the same keys as the example run alone. KV-shared layers
// call this too, so a borrowing layer sees the same block-diagonal mask as its source.
int64_t first_visible(const PassContext& ctx, const LayerConfig& lc, int64_t t) {
  const int64_t start = ctx.example_start[static_cast<size_t>(t)];
  return lc.kind == LayerKind::Sliding ? std::max<int64_t>(start, t - ctx.model.config.sliding_window + 1) : start;
}

// Per-head RMSNorm (learned weight or none) then RoPE, in place, for `heads` heads.
void norm_and_rope(float* rows, int64_t n, int heads, int64_t D, const float* weight, double eps,
                   const TrainRope* rope) {
  for (int64_t t = 0; t < n; ++t) {
    float* xt = rows + t * heads * D;
    for (int h = 0; h < heads; ++h) {
      rms_norm(xt + h * D, weight, D, eps, xt + h * D);
      if (rope)
        rope_rotate(xt + h * D, rope->half, rope->pairs, &rope->cos[static_cast<size_t>(t * rope->pairs)],
                    &rope->sin[static_cast<size_t>(t * rope->pairs)], false);
    }
  }
}

// Backward of norm_and_rope: given d(out) in `dy` (modified), dx += d(raw input) and,
// when given, dweight += the gradient of the norm's learned scale (shared by all heads).
void norm_and_rope_bwd(const float* raw, int64_t n, int heads, int64_t D, const float* weight, double eps,
                       const TrainRope* rope, std::vector<float>& dy, float* dx, float* dweight = nullptr) {
  for (int64_t t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h) {
      const int64_t off = (t * heads + h) * D;
      if (rope)
        rope_rotate(&dy[static_cast<size_t>(off)], rope->half, rope->pairs,
                    &rope->cos[static_cast<size_t>(t * rope->pairs)], &rope->sin[static_cast<size_t>(t * rope->pairs)],
                    true);
      rms_norm_bwd(raw + off, weight, D, eps, &dy[static_cast<size_t>(off)], dx + off);
      if (dweight) rms_norm_rows_weight_grad(raw + off, 1, D, eps, &dy[static_cast<size_t>(off)], dweight);
    }
}

float* data_or_null(std::vector<float>* v) { return v ? v->data() : nullptr; }

}  // namespace

void attention_fwd(PassContext& ctx, int layer, std::vector<float>& x, AttentionTape* tape) {
  const ModelConfig& c = ctx.model.config;
  const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const Shape s = shape_of(ctx, layer);
  const TrainRope& rope = ctx.rope(lc.kind);

  AttentionTape local;
  AttentionTape& tp = tape ? *tape : local;
  tp.x = x;
  tp.a.resize(static_cast<size_t>(s.n * s.H));
  rms_norm_rows(x.data(), w.attn_norm.data(), s.n, s.H, c.rms_eps, tp.a.data());

  tp.q_raw.resize(static_cast<size_t>(s.n * s.q_row));
  ctx.linear(layer, LoraTarget::Q, w.q, tp.a.data(), s.n, tp.q_raw.data());
  tp.q = tp.q_raw;
  norm_and_rope(tp.q.data(), s.n, s.n_heads, s.D, w.q_norm.data(), c.rms_eps, &rope);

  if (lc.owns_kv) {
    tp.k_raw.resize(static_cast<size_t>(s.n * s.kv_row));
    ctx.linear(layer, LoraTarget::K, w.k, tp.a.data(), s.n, tp.k_raw.data());
    if (lc.k_eq_v) {
      tp.v_raw = tp.k_raw;  // raw K projection, before k_norm and RoPE (pitfall 4)
    } else {
      tp.v_raw.resize(tp.k_raw.size());
      ctx.linear(layer, LoraTarget::V, w.v, tp.a.data(), s.n, tp.v_raw.data());
    }
    std::vector<float>& k = ctx.k[static_cast<size_t>(layer)];
    std::vector<float>& v = ctx.v[static_cast<size_t>(layer)];
    k = tp.k_raw;
    v = tp.v_raw;
    norm_and_rope(k.data(), s.n, s.n_kv, s.D, w.k_norm.data(), c.rms_eps, &rope);
    norm_and_rope(v.data(), s.n, s.n_kv, s.D, nullptr, c.rms_eps, nullptr);
  }

  const std::vector<float>& k = ctx.k[static_cast<size_t>(lc.kv_source)];
  const std::vector<float>& v = ctx.v[static_cast<size_t>(lc.kv_source)];
  tp.attn.assign(static_cast<size_t>(s.n * s.q_row), 0.0f);
  if (tape) tp.probs.assign(static_cast<size_t>(s.n * s.n_heads), {});
  ctx.pool.parallel_for(s.n * s.n_heads, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / s.n_heads;
      const int h = static_cast<int>(job % s.n_heads);
      const int64_t kv_off = (h / s.group) * s.D;
      auto p = attention_head_fwd(&tp.q[static_cast<size_t>(t * s.q_row + h * s.D)], &k[static_cast<size_t>(kv_off)],
                                  &v[static_cast<size_t>(kv_off)], s.kv_row, first_visible(ctx, lc, t), t,
                                  static_cast<int>(s.D), &tp.attn[static_cast<size_t>(t * s.q_row + h * s.D)]);
      if (tape) tp.probs[static_cast<size_t>(job)] = std::move(p);
    }
  }, 4);

  tp.o.resize(static_cast<size_t>(s.n * s.H));
  ctx.linear(layer, LoraTarget::O, w.o, tp.attn.data(), s.n, tp.o.data());
  std::vector<float> out(tp.o.size());
  rms_norm_rows(tp.o.data(), w.post_attn_norm.data(), s.n, s.H, c.rms_eps, out.data());
  for (size_t i = 0; i < x.size(); ++i) x[i] += out[i];
}

void attention_bwd(PassContext& ctx, int layer, const AttentionTape& tp, std::vector<float>& dx) {
  const ModelConfig& c = ctx.model.config;
  const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
  const LayerWeights& w = ctx.model.weights.layers[static_cast<size_t>(layer)];
  const Shape s = shape_of(ctx, layer);
  const TrainRope& rope = ctx.rope(lc.kind);

  std::vector<float> d_o(tp.o.size(), 0.0f), d_attn(tp.attn.size(), 0.0f);
  ctx.norm_rows_bwd(tp.o.data(), w.post_attn_norm, s.n, s.H, dx.data(), d_o.data());
  ctx.linear_grad(layer, LoraTarget::O, w.o, tp.attn.data(), s.n, d_o.data(), d_attn.data());

  // Softmax attention backward; one job per KV head so K/V gradient rows never collide.
  const size_t src = static_cast<size_t>(lc.kv_source);
  const std::vector<float>& k = ctx.k[src];
  const std::vector<float>& v = ctx.v[src];
  std::vector<float>& dk = ctx.dk[src];
  std::vector<float>& dv = ctx.dv[src];
  std::vector<float> dq(tp.q.size(), 0.0f);
  ctx.pool.parallel_for(s.n_kv, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g)
      for (int h = static_cast<int>(g) * s.group; h < (static_cast<int>(g) + 1) * s.group; ++h)
        for (int64_t t = 0; t < s.n; ++t) {
          const size_t qo = static_cast<size_t>(t * s.q_row + h * s.D), kvo = static_cast<size_t>(g * s.D);
          attention_head_bwd(&tp.q[qo], &k[kvo], &v[kvo], s.kv_row, first_visible(ctx, lc, t), t,
                             static_cast<int>(s.D), tp.probs[static_cast<size_t>(t * s.n_heads + h)], &d_attn[qo],
                             &dq[qo], &dk[kvo], &dv[kvo]);
        }
  });

  std::vector<float> da(tp.a.size(), 0.0f), dq_raw(tp.q_raw.size(), 0.0f);
  norm_and_rope_bwd(tp.q_raw.data(), s.n, s.n_heads, s.D, w.q_norm.data(), c.rms_eps, &rope, dq, dq_raw.data(),
                    data_or_null(ctx.grad_of(w.q_norm.data())));
  ctx.linear_grad(layer, LoraTarget::Q, w.q, tp.a.data(), s.n, dq_raw.data(), da.data());

  if (lc.owns_kv) {
    // Every reader (this layer and the KV-shared layers after it) has added to dk/dv by now.
    std::vector<float> dk_raw(tp.k_raw.size(), 0.0f), dv_raw(tp.v_raw.size(), 0.0f);
    std::vector<float> dk_post = dk, dv_post = dv;
    norm_and_rope_bwd(tp.k_raw.data(), s.n, s.n_kv, s.D, w.k_norm.data(), c.rms_eps, &rope, dk_post, dk_raw.data(),
                      data_or_null(ctx.grad_of(w.k_norm.data())));
    norm_and_rope_bwd(tp.v_raw.data(), s.n, s.n_kv, s.D, nullptr, c.rms_eps, nullptr, dv_post, dv_raw.data());
    if (lc.k_eq_v) {
      for (size_t i = 0; i < dk_raw.size(); ++i) dk_raw[i] += dv_raw[i];
    } else {
      ctx.linear_grad(layer, LoraTarget::V, w.v, tp.a.data(), s.n, dv_raw.data(), da.data());
    }
    ctx.linear_grad(layer, LoraTarget::K, w.k, tp.a.data(), s.n, dk_raw.data(), da.data());
  }
  ctx.norm_rows_bwd(tp.x.data(), w.attn_norm, s.n, s.H, da.data(), dx.data());
}

}  // namespace facet::train
