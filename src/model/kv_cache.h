// Per-sequence KV cache, sized per layer kind (spec §5): only KV-owning layers have
// storage; a sliding layer keeps a ring of `sliding_window` positions (it never looks
// further back); a full layer keeps every position up to the context size. Rows are
// stored as f32, f16, bf16, q8_0 or q4_0 (llama.cpp's --cache-type-k / --cache-type-v);
// attention converts them back to f32 as it reads them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/model_config.h"
#include "tensor/dtype.h"

namespace facet {

// Element types of the cached K and V rows. f32 is exact; f16 halves the memory (logits
// within 4.2e-4 of the float64 golden ones on the shared tiny models, against 1.1e-6 with
// f32); q8_0 takes 27% of f32 (9.8e-3); q4_0 14% (0.4: rarely worth it).
struct KvCacheTypes {
  DType k = DType::F32;
  DType v = DType::F32;
};
inline constexpr KvCacheTypes kDefaultKvCacheTypes{DType::F16, DType::F16};  // what users get

// "f32", "f16", "bf16", "q8_0", "q4_0" (any case) as llama.cpp spells them; throws Error
// naming the accepted values otherwise.
DType parse_kv_cache_type(std::string_view name);
std::string kv_cache_type_name(DType type);  // lower case, as parsed

class KvCache {
 public:
  // `rewind_slack`: sliding rings keep this many positions beyond the window, so the
  // cache can later be truncated up to that many positions back (a chat whose next prompt
  // differs from the end of the last answer). 0: rings hold exactly the window.
  // Block types (q8_0, q4_0) need rows (KV heads × head size) in whole blocks of 32.
  KvCache(const ModelConfig& config, int64_t context_size, int64_t rewind_slack = 0, KvCacheTypes types = {});

  // Bytes such a cache takes, computed without allocating it (for memory plans).
  static uint64_t planned_bytes(const ModelConfig& config, int64_t context_size, int64_t rewind_slack,
                                KvCacheTypes types);

  int64_t context_size() const { return context_size_; }
  int64_t n_past() const { return n_past_; }  // positions already processed
  void advance(int64_t n) { n_past_ += n; }
  void clear() { n_past_ = 0; }
  // Forgets positions >= n (e.g. to re-run the end of a prompt). Sliding layers can only
  // go back inside their window; the caller checks can_truncate_to first.
  bool can_truncate_to(int64_t n) const;
  void truncate_to(int64_t n);
  const KvCacheTypes& types() const { return types_; }

  struct Layer {
    bool present = false;  // false for KV-shared layers
    bool ring = false;     // sliding layers wrap around
    int64_t capacity = 0;  // positions held
    int64_t row = 0;       // elements per position: n_kv_heads * head_dim
    size_t k_row_bytes = 0, v_row_bytes = 0;
    std::vector<uint8_t> k, v;  // [capacity] rows of the cache's K and V types
    uint8_t* k_row(int64_t slot) { return k.data() + static_cast<size_t>(slot) * k_row_bytes; }
    uint8_t* v_row(int64_t slot) { return v.data() + static_cast<size_t>(slot) * v_row_bytes; }
    const uint8_t* k_row(int64_t slot) const { return k.data() + static_cast<size_t>(slot) * k_row_bytes; }
    const uint8_t* v_row(int64_t slot) const { return v.data() + static_cast<size_t>(slot) * v_row_bytes; }
  };
  Layer& layer(int index) { return layers_[static_cast<size_t>(index)]; }
  const Layer& layer(int index) const { return layers_[static_cast<size_t>(index)]; }

  // Storage slot of a position in a layer's buffers.
  static int64_t slot(const Layer& l, int64_t position) { return l.ring ? position % l.capacity : position; }

  uint64_t bytes() const;

 private:
  std::vector<Layer> layers_;
  int64_t context_size_;
  int64_t n_past_ = 0;
  int sliding_window_;
  KvCacheTypes types_;
};

}  // namespace facet
