// State shared by the blocks of one forward micro-batch (internal to src/model).
#pragma once

#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/model.h"
#include "model/model_inputs.h"
#include "util/thread_pool.h"

namespace facet {

// One sequence's share of a batch: its tokens are rows [begin, begin + count) of every
// activation, at positions first_position ... of its own cache.
struct BatchSegment {
  KvCache* cache = nullptr;
  int64_t first_position = 0;
  int64_t begin = 0;
  int64_t count = 0;
};

// Per-token steps (norms, RoPE) of a prompt run on the pool in chunks of at least this many
// tokens; each token's arithmetic is the same on any thread. A 512-token prompt spent about
// 4% of its time in such loops on one core while the other waited.
inline constexpr int64_t kTokensPerChunk = 16;

// A micro-batch may hold several sequences: every matrix product runs over all their
// tokens together (the weights are read once), attention stays within each sequence.
struct ForwardContext {
  ForwardContext(const Model& m, ThreadPool& p) : model(m), pool(p) {}
  const Model& model;
  ThreadPool& pool;
  int64_t n_tokens = 0;                // all sequences together
  std::vector<BatchSegment> segments;
  std::vector<int32_t> segment_of;     // [n_tokens]: which segment each row belongs to
  // [n_tokens]: the first and last row of the image block a row belongs to, on models with
  // bidirectional image attention (the row itself otherwise): it sees those rows both ways.
  std::vector<int64_t> block_first, block_last;
  RopeAngles rope_sliding, rope_full;  // per row, each at its own sequence's position
  KvCacheTypes types;                  // of every cache in the batch (they must agree)
  // Post-RoPE K and post-norm V of this batch, per KV-owning layer: [n_tokens, n_kv * D],
  // as the cache will hold them (rounded through its type, so a token sees the same values
  // whether its keys are in this batch or an earlier one: batching never changes logits).
  // Kept until the end of the batch because KV-shared layers read them too.
  std::vector<std::vector<float>> batch_k, batch_v;
  // The same rows encoded in the cache types, copied into the caches after the last layer.
  std::vector<std::vector<uint8_t>> stored_k, stored_v;
  // Per-layer embeddings, [n_tokens, L * P] (empty without PLE).
  std::vector<float> ple;

  const RopeAngles& rope(LayerKind kind) const {
    return kind == LayerKind::Sliding ? rope_sliding : rope_full;
  }
};

// Blocks of a decoder layer; each reads and updates the residual stream x [n_tokens, H].
void attention_block(ForwardContext& ctx, int layer, std::vector<float>& x);
void feed_forward_block(ForwardContext& ctx, int layer, std::vector<float>& x);
void ple_block(ForwardContext& ctx, int layer, std::vector<float>& x);
// The sandwich-norm residual step every block ends with: x += RMSNorm(out; weight), per token
// (out is normalised in place).
void add_normed_residual(const ForwardContext& ctx, std::vector<float>& out, const std::vector<float>& weight,
                         std::vector<float>& x);
// Applies RoPE in place to `n_heads` heads of width 2*angles.half of one token.
void apply_rope(float* heads, int n_heads, const RopeAngles& angles, int64_t token);

}  // namespace facet
