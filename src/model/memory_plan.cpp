#include "model/memory_plan.h"

#include <algorithm>

namespace facet {

ComputeEstimate estimate_compute(const ModelConfig& c, int64_t batch, int64_t context, int threads) {
  const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(1, batch));
  const uint64_t H = static_cast<uint64_t>(c.hidden_size);
  uint64_t q_row = 0, ffn = 0, kv_rows = 0;
  for (const LayerConfig& l : c.layers) {
    q_row = std::max<uint64_t>(q_row, static_cast<uint64_t>(c.n_heads) * static_cast<uint64_t>(l.head_dim));
    ffn = std::max<uint64_t>(ffn, static_cast<uint64_t>(l.ffn_width));
    if (l.owns_kv) kv_rows += 2ull * static_cast<uint64_t>(l.n_kv_heads) * static_cast<uint64_t>(l.head_dim);
  }
  const uint64_t ple = c.has_ple() ? static_cast<uint64_t>(c.ple_dim) * static_cast<uint64_t>(c.n_layers) : 0;
  // Floats per token alive together: residual x + normed input + block output + one spare
  // (4 H), Q and attention output (2 q_row), MLP gate and up (2 ffn), the batch's K/V of
  // every KV-owning layer, the per-layer embeddings.
  const uint64_t per_token = 4 * H + 2 * q_row + 2 * ffn + kv_rows + ple;
  const uint64_t scores = static_cast<uint64_t>(std::max(1, threads)) * static_cast<uint64_t>(std::max<int64_t>(1, context));
  const uint64_t int8_copy = n * std::max({H, q_row, ffn});  // quantized activations, 1 byte each
  ComputeEstimate e;
  e.activations = 4 * (n * per_token + scores) + int8_copy;
  e.logits = 4ull * static_cast<uint64_t>(c.vocab_size);
  return e;
}

}  // namespace facet
