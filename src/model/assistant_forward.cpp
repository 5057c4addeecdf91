// One draft step of a Gemma 4 drafter (see assistant.h and spec §8): plain loops around the
// matmul kernels, which run on the pool (on one thread the E2B-shaped drafter's 16 MB of
// layer weights took about 1 ms a step, a tenth of a 3-token check pass's budget).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/attention_spans.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/assistant.h"
#include "model/forward_context.h"
#include "model/model_inputs.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

// The target layer whose K/V a drafter layer of `kind` reads: the last one of that kind
// that owns its KV.
int source_layer(const ModelConfig& target, LayerKind kind) {
  int source = -1;
  for (int j = 0; j < target.n_layers; ++j) {
    const LayerConfig& l = target.layers[static_cast<size_t>(j)];
    if (l.owns_kv && l.kind == kind) source = j;
  }
  require(source >= 0, "the main model has no KV-owning ", layer_kind_name(kind), " layer");
  return source;
}

// Queries (already normed and rotated) of every head over the target cache's positions
// [lo, hi] of layer `layer`; scale 1.0 as in Gemma 4 (the q/k norms set the scale). The
// cache is read where it lies (a ring wraps at most once), through the decoder's attention
// helper: the heads of one KV head read each key and value row once, and rows not stored
// as f32 are converted a chunk at a time (a window-sized copy cost the E2B-shaped drafter
// about 1 ms a step at 2,048 positions).
std::vector<float> attend_to_target(const std::vector<float>& q, int n_heads, int64_t D, const KvCache& cache,
                                    int layer, int n_kv, int64_t lo, int64_t hi) {
  const KvCache::Layer& l = cache.layer(layer);
  std::vector<KvRowSpan> spans;
  for (int64_t p = lo; p <= hi;) {
    const int64_t slot = KvCache::slot(l, p), run = std::min(hi + 1 - p, l.capacity - slot);
    spans.push_back({l.k_row(slot), l.v_row(slot), run, l.k_row_bytes, l.v_row_bytes, cache.types().k,
                     cache.types().v, l.row});
    p += run;
  }
  const int group = n_heads / n_kv;
  std::vector<float> out(static_cast<size_t>(n_heads * D)), scores;
  for (int g = 0; g < n_kv; ++g)
    attend_spans(&q[static_cast<size_t>(g * group * D)], group, spans, g * D, D, scores,
                 &out[static_cast<size_t>(g * group * D)]);
  return out;
}

// x += RMSNorm(out; weight)
void add_normed(std::vector<float>& out, const std::vector<float>& weight, double eps, std::vector<float>& x) {
  rms_norm(out.data(), weight.data(), static_cast<int64_t>(out.size()), eps, out.data());
  for (size_t i = 0; i < x.size(); ++i) x[i] += out[i];
}

// Logits of the output head; with ordered embeddings only the chosen clusters' tokens get
// a product (the point of the clusters: 32 × 128 rows read instead of 262,144).
std::vector<float> output_head(const AssistantModel& a, const std::vector<float>& normed, ThreadPool& pool) {
  const AssistantConfig& c = a.config;
  const WeightMatrix head = as_matrix(a.weights.token_embd);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  if (!c.ordered_embeddings) {
    matmul(head, normed.data(), 1, logits.data(), &pool);
    return logits;
  }
  std::vector<float> centroid_logits(static_cast<size_t>(c.n_centroids));
  matmul(a.weights.centroids, normed.data(), 1, centroid_logits.data(), &pool);
  std::vector<int> order(static_cast<size_t>(c.n_centroids));
  std::iota(order.begin(), order.end(), 0);
  // Best clusters first; ties to the lower index, so the choice is deterministic.
  std::partial_sort(order.begin(), order.begin() + c.centroid_top_k, order.end(), [&](int x, int y) {
    const float lx = centroid_logits[static_cast<size_t>(x)], ly = centroid_logits[static_cast<size_t>(y)];
    return lx > ly || (lx == ly && x < y);
  });
  const int64_t per_cluster = c.vocab_size / c.n_centroids;
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(c.centroid_top_k * per_cluster));
  for (int k = 0; k < c.centroid_top_k; ++k) {
    const auto first = a.weights.token_ordering.begin() + order[static_cast<size_t>(k)] * per_cluster;
    ids.insert(ids.end(), first, first + per_cluster);
  }
  // The chosen rows copied together, then one product on the pool: a product call per row
  // (4096 calls) cost more in per-call setup than the 2 MB of rows (the head took 1.4 ms a
  // step of the E2B-shaped drafter, 0.5 ms now). Each row's sum is the same either way.
  std::vector<float> selected(ids.size());
  if (head.lora != nullptr) {  // an adapter on the table: its rows keep their LoRA rows this way
    pool.parallel_for(static_cast<int64_t>(ids.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        matmul(head.slice_rows(ids[static_cast<size_t>(i)], 1), normed.data(), 1, &selected[static_cast<size_t>(i)], nullptr);
    }, 64);
  } else {
    const size_t row_bytes = head.row_bytes();
    thread_local std::vector<uint8_t> gathered;
    gathered.resize(ids.size() * row_bytes);
    uint8_t* const dst = gathered.data();  // the caller's buffer (a worker's thread_local is another)
    pool.parallel_for(static_cast<int64_t>(ids.size()), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        std::memcpy(dst + static_cast<size_t>(i) * row_bytes, head.row(ids[static_cast<size_t>(i)]), row_bytes);
    }, 256);
    WeightMatrix chosen = head;
    chosen.data = dst;
    chosen.rows = static_cast<int64_t>(ids.size());
    chosen.packed = nullptr;  // the packed layout is the whole table's
    matmul(chosen, normed.data(), 1, selected.data(), &pool);
  }
  const float fill = *std::min_element(selected.begin(), selected.end()) - 1.0f;
  std::fill(logits.begin(), logits.end(), fill);
  for (size_t i = 0; i < ids.size(); ++i) logits[static_cast<size_t>(ids[i])] = selected[i];
  return logits;
}

}  // namespace

AssistantStepResult assistant_step(const AssistantModel& a, const Model& target, const KvCache& cache, int32_t token,
                                   std::span<const float> hidden, int64_t position, ThreadPool& pool) {
  const AssistantConfig& c = a.config;
  const int64_t H = c.hidden_size, Hb = c.backbone_hidden_size;
  require(static_cast<int64_t>(hidden.size()) == Hb, "the drafter needs a hidden state of ", Hb, " values, got ",
          hidden.size());
  require(token >= 0 && token < c.vocab_size && token < target.config.vocab_size, "token id ", token,
          " is out of range");
  require(position >= 0 && position < cache.n_past(), "draft position ", position,
          " is not in the main model's cache (", cache.n_past(), " positions)");

  // [target embedding × √Hb, hidden] → pre_projection.
  std::vector<float> input = embed_tokens(target, {token});
  input.insert(input.end(), hidden.begin(), hidden.end());
  std::vector<float> x(static_cast<size_t>(H));
  matmul(a.weights.pre_projection, input.data(), 1, x.data(), &pool);

  for (int layer = 0; layer < c.n_layers; ++layer) {
    const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
    const AssistantLayerWeights& w = a.weights.layers[static_cast<size_t>(layer)];
    const int64_t D = lc.head_dim;
    std::vector<float> normed(static_cast<size_t>(H));
    rms_norm(x.data(), w.attn_norm.data(), H, c.rms_eps, normed.data());
    std::vector<float> q(static_cast<size_t>(c.n_heads * D));
    matmul(w.q, normed.data(), 1, q.data(), &pool);
    for (int h = 0; h < c.n_heads; ++h) rms_norm(&q[static_cast<size_t>(h * D)], w.q_norm.data(), D, c.rms_eps, &q[static_cast<size_t>(h * D)]);
    const RopeAngles angles = rope_angles(c.rope(lc.kind), position, 1);
    apply_rope(q.data(), c.n_heads, angles, 0);

    const int source = source_layer(target.config, lc.kind);
    const int64_t lo = lc.kind == LayerKind::Sliding ? std::max<int64_t>(0, position - c.sliding_window + 1) : 0;
    std::vector<float> attn = attend_to_target(q, c.n_heads, D, cache, source,
                                               target.config.layers[static_cast<size_t>(source)].n_kv_heads, lo, position);
    std::vector<float> out(static_cast<size_t>(H));
    matmul(w.o, attn.data(), 1, out.data(), &pool);
    add_normed(out, w.post_attn_norm, c.rms_eps, x);

    rms_norm(x.data(), w.ffn_norm.data(), H, c.rms_eps, normed.data());
    std::vector<float> gate(static_cast<size_t>(lc.ffn_width)), up(gate.size());
    matmul(w.gate, normed.data(), 1, gate.data(), &pool);
    matmul(w.up, normed.data(), 1, up.data(), &pool);
    gelu_tanh_mul(gate.data(), up.data(), lc.ffn_width);
    matmul(w.down, gate.data(), 1, out.data(), &pool);
    add_normed(out, w.post_ffw_norm, c.rms_eps, x);
    for (float& v : x) v *= w.layer_scalar;
  }

  std::vector<float> normed(static_cast<size_t>(H));
  rms_norm(x.data(), a.weights.output_norm.data(), H, c.rms_eps, normed.data());
  AssistantStepResult result;
  result.hidden.resize(static_cast<size_t>(Hb));
  matmul(a.weights.post_projection, normed.data(), 1, result.hidden.data(), &pool);
  result.logits = output_head(a, normed, pool);
  return result;
}

}  // namespace facet
