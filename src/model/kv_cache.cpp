#include "model/kv_cache.h"

#include <algorithm>

#include "util/error.h"

namespace facet {

KvCache::KvCache(const ModelConfig& c, int64_t context_size, int64_t rewind_slack)
    : context_size_(context_size), sliding_window_(c.sliding_window) {
  require(context_size > 0, "context size must be positive (got ", context_size, ")");
  require(c.max_context <= 0 || context_size <= c.max_context, "context size ", context_size,
          " exceeds the model's maximum of ", c.max_context, " tokens");
  require(rewind_slack >= 0, "KV cache rewind slack must be >= 0 (got ", rewind_slack, ")");
  const int64_t ring_capacity = static_cast<int64_t>(c.sliding_window) + rewind_slack;
  layers_.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& lc = c.layers[static_cast<size_t>(i)];
    Layer& l = layers_[static_cast<size_t>(i)];
    if (!lc.owns_kv) continue;
    l.present = true;
    l.ring = lc.kind == LayerKind::Sliding && ring_capacity < context_size;
    l.capacity = l.ring ? ring_capacity : context_size;
    l.row = static_cast<int64_t>(lc.n_kv_heads) * lc.head_dim;
    l.k.assign(static_cast<size_t>(l.capacity * l.row), 0.0f);
    l.v.assign(static_cast<size_t>(l.capacity * l.row), 0.0f);
  }
}

bool KvCache::can_truncate_to(int64_t n) const {
  if (n < 0 || n > n_past_) return false;
  // A ring holds positions [n_past - capacity, n_past); the next query at position n
  // needs [n - window + 1, n). Both clamp at 0.
  for (const Layer& l : layers_) {
    if (!l.present || !l.ring) continue;
    int64_t oldest_held = std::max<int64_t>(0, n_past_ - l.capacity);
    int64_t oldest_needed = std::max<int64_t>(0, n - sliding_window_ + 1);
    if (oldest_needed < oldest_held) return false;
  }
  return true;
}

void KvCache::truncate_to(int64_t n) {
  require(can_truncate_to(n), "KV cache cannot be truncated to ", n, " positions");
  n_past_ = n;
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (const Layer& l : layers_) total += (l.k.size() + l.v.size()) * sizeof(float);
  return total;
}

}  // namespace facet
