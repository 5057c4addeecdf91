// Per-sequence KV cache, sized per layer kind (spec §5): only KV-owning layers have
// storage; a sliding layer keeps a ring of `sliding_window` positions (it never looks
// further back); a full layer keeps every position up to the context size.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model_config.h"

namespace facet {

class KvCache {
 public:
  // `rewind_slack`: sliding rings keep this many positions beyond the window, so the
  // cache can later be truncated up to that many positions back (a chat whose next prompt
  // differs from the end of the last answer). 0: rings hold exactly the window.
  KvCache(const ModelConfig& config, int64_t context_size, int64_t rewind_slack = 0);

  int64_t context_size() const { return context_size_; }
  int64_t n_past() const { return n_past_; }  // positions already processed
  void advance(int64_t n) { n_past_ += n; }
  void clear() { n_past_ = 0; }
  // Forgets positions >= n (e.g. to re-run the end of a prompt). Sliding layers can only
  // go back inside their window; the caller checks can_truncate_to first.
  bool can_truncate_to(int64_t n) const;
  void truncate_to(int64_t n);

  struct Layer {
    bool present = false;  // false for KV-shared layers
    bool ring = false;     // sliding layers wrap around
    int64_t capacity = 0;  // positions held
    int64_t row = 0;       // floats per position: n_kv_heads * head_dim
    std::vector<float> k, v;
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
};

}  // namespace facet
