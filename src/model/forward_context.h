// State shared by the blocks of one forward micro-batch (internal to src/model).
#pragma once

#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/model.h"
#include "model/model_inputs.h"
#include "util/thread_pool.h"

namespace facet {

struct ForwardContext {
  ForwardContext(const Model& m, KvCache& c, ThreadPool& p) : model(m), cache(c), pool(p) {}
  const Model& model;
  KvCache& cache;
  ThreadPool& pool;
  int64_t n_tokens = 0;
  int64_t first_position = 0;  // position of token 0 of the batch
  RopeAngles rope_sliding, rope_full;
  // Post-RoPE K and post-norm V of this batch, per KV-owning layer: [n_tokens, n_kv * D].
  // Kept until the end of the batch because KV-shared layers read them too.
  std::vector<std::vector<float>> batch_k, batch_v;
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
