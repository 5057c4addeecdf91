#include "model/kv_cache.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"

namespace facet {
namespace {

// The shape of every layer's storage, without the buffers.
std::vector<KvCache::Layer> plan_layers(const ModelConfig& c, int64_t context_size, int64_t rewind_slack,
                                        KvCacheTypes types) {
  require(context_size > 0, "context size must be positive (got ", context_size, ")");
  require(c.max_context <= 0 || context_size <= c.max_context, "context size ", context_size,
          " exceeds the model's maximum of ", c.max_context, " tokens");
  require(rewind_slack >= 0, "KV cache rewind slack must be >= 0 (got ", rewind_slack, ")");
  const int64_t ring_capacity = static_cast<int64_t>(c.sliding_window) + rewind_slack;
  std::vector<KvCache::Layer> layers(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const LayerConfig& lc = c.layers[static_cast<size_t>(i)];
    KvCache::Layer& l = layers[static_cast<size_t>(i)];
    if (!lc.owns_kv) continue;
    l.present = true;
    l.ring = lc.kind == LayerKind::Sliding && ring_capacity < context_size;
    l.capacity = l.ring ? ring_capacity : context_size;
    l.row = static_cast<int64_t>(lc.n_kv_heads) * lc.head_dim;
    for (DType t : {types.k, types.v}) {
      const uint32_t block = dtype_info(t).block_size;
      require(l.row % block == 0, "KV cache type ", kv_cache_type_name(t), " needs rows in blocks of ", block,
              " values, but layer ", i, " has ", l.row, " (", lc.n_kv_heads, " KV heads x ", lc.head_dim, ")");
    }
    l.k_row_bytes = dtype_row_bytes(types.k, l.row);
    l.v_row_bytes = dtype_row_bytes(types.v, l.row);
  }
  return layers;
}

}  // namespace

DType parse_kv_cache_type(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0})
    if (lower == kv_cache_type_name(t)) return t;
  throw Error("unknown KV cache type '" + std::string(name) + "' (use f32, f16, bf16, q8_0 or q4_0)");
}

std::string kv_cache_type_name(DType type) {
  std::string name(dtype_name(type));
  for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return name;
}

KvCache::KvCache(const ModelConfig& c, int64_t context_size, int64_t rewind_slack, KvCacheTypes types)
    : layers_(plan_layers(c, context_size, rewind_slack, types)),
      context_size_(context_size),
      sliding_window_(c.sliding_window),
      types_(types) {
  for (Layer& l : layers_) {
    if (!l.present) continue;
    l.k.assign(static_cast<size_t>(l.capacity) * l.k_row_bytes, 0);
    l.v.assign(static_cast<size_t>(l.capacity) * l.v_row_bytes, 0);
  }
}

uint64_t KvCache::planned_bytes(const ModelConfig& config, int64_t context_size, int64_t rewind_slack,
                                KvCacheTypes types) {
  uint64_t total = 0;
  for (const Layer& l : plan_layers(config, context_size, rewind_slack, types))
    total += static_cast<uint64_t>(l.capacity) * (l.k_row_bytes + l.v_row_bytes);
  return total;
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
  for (const Layer& l : layers_) total += l.k.size() + l.v.size();
  return total;
}

}  // namespace facet
