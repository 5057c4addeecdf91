// The layer loop: embedding, per-layer embeddings, decoder layers, final norm, tied
// output head and soft-cap (spec §4.1, §4.4, §4.8).
#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"
#include "model/model_inputs.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

// One micro-batch; returns the final hidden states (after the last layer) [n, H].
std::vector<float> run_layers(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                              ThreadPool& pool) {
  const ModelConfig& c = model.config;
  const int64_t n = static_cast<int64_t>(tokens.size());
  ForwardContext ctx(model, cache, pool);
  ctx.n_tokens = n;
  ctx.first_position = cache.n_past();
  ctx.rope_sliding = rope_angles(c.rope_sliding, ctx.first_position, n);
  ctx.rope_full = rope_angles(c.rope_full, ctx.first_position, n);
  ctx.batch_k.resize(static_cast<size_t>(c.n_layers));
  ctx.batch_v.resize(static_cast<size_t>(c.n_layers));

  std::vector<float> x = embed_tokens(model, tokens);
  if (c.has_ple()) ctx.ple = per_layer_inputs(model, tokens, x, pool);

  for (int layer = 0; layer < c.n_layers; ++layer) {
    attention_block(ctx, layer, x);
    feed_forward_block(ctx, layer, x);
    if (c.has_ple()) ple_block(ctx, layer, x);
    const float scalar = model.weights.layers[static_cast<size_t>(layer)].layer_scalar;
    for (float& v : x) v *= scalar;  // the whole stream, after the PLE add (pitfall 12)
  }

  // The batch's K/V join the cache only now: KV-shared layers read them from the batch
  // buffers, and a ring write earlier could overwrite history those layers still need.
  for (int layer = 0; layer < c.n_layers; ++layer) {
    KvCache::Layer& l = cache.layer(layer);
    if (!l.present) continue;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t slot = KvCache::slot(l, ctx.first_position + t);
      std::copy_n(&ctx.batch_k[static_cast<size_t>(layer)][static_cast<size_t>(t * l.row)], l.row,
                  &l.k[static_cast<size_t>(slot * l.row)]);
      std::copy_n(&ctx.batch_v[static_cast<size_t>(layer)][static_cast<size_t>(t * l.row)], l.row,
                  &l.v[static_cast<size_t>(slot * l.row)]);
    }
  }
  cache.advance(n);
  return x;
}

// Final norm, tied output head, soft-cap for `rows` hidden states.
void output_logits(const Model& model, const float* hidden, int64_t rows, float* logits, ThreadPool& pool) {
  const ModelConfig& c = model.config;
  const int64_t H = c.hidden_size;
  std::vector<float> normed(static_cast<size_t>(rows * H));
  for (int64_t t = 0; t < rows; ++t)
    rms_norm(hidden + t * H, model.weights.output_norm.data(), H, c.rms_eps, &normed[static_cast<size_t>(t * H)]);
  matmul(as_matrix(model.weights.token_embd), normed.data(), rows, logits, &pool);
  if (c.final_logit_softcap > 0) soft_cap(logits, rows * c.vocab_size, c.final_logit_softcap);
}

}  // namespace

std::vector<float> forward(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                           LogitsFor which, ThreadPool& pool, int64_t max_batch) {
  const ModelConfig& c = model.config;
  require(!tokens.empty(), "no input tokens");
  for (int32_t id : tokens)
    require(id >= 0 && id < c.vocab_size && (!c.has_ple() || id < c.ple_vocab), "token id ", id,
            " is out of range (the vocabulary has ", c.vocab_size, " entries)");
  const int64_t total = static_cast<int64_t>(tokens.size());
  require(cache.n_past() + total <= cache.context_size(), "the input (", total, " tokens after ",
          cache.n_past(), " cached) does not fit in the context of ", cache.context_size(), " tokens");
  require(max_batch > 0, "micro-batch size must be positive");

  const int64_t V = c.vocab_size, H = c.hidden_size;
  std::vector<float> logits(static_cast<size_t>((which == LogitsFor::AllTokens ? total : 1) * V));
  for (int64_t start = 0; start < total; start += max_batch) {
    const int64_t n = std::min(max_batch, total - start);
    std::vector<int32_t> chunk(tokens.begin() + start, tokens.begin() + start + n);
    std::vector<float> hidden = run_layers(model, cache, chunk, pool);
    if (which == LogitsFor::AllTokens)
      output_logits(model, hidden.data(), n, &logits[static_cast<size_t>(start * V)], pool);
    else if (start + n == total)
      output_logits(model, &hidden[static_cast<size_t>((n - 1) * H)], 1, logits.data(), pool);
  }
  return logits;
}

std::vector<float> forward_hidden_states(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                                         ThreadPool& pool, int64_t max_batch) {
  const ModelConfig& c = model.config;
  require(!tokens.empty(), "no input tokens");
  for (int32_t id : tokens)
    require(id >= 0 && id < c.vocab_size && (!c.has_ple() || id < c.ple_vocab), "token id ", id,
            " is out of range (the vocabulary has ", c.vocab_size, " entries)");
  const int64_t total = static_cast<int64_t>(tokens.size()), H = c.hidden_size;
  require(cache.n_past() + total <= cache.context_size(), "the input (", total, " tokens after ",
          cache.n_past(), " cached) does not fit in the context of ", cache.context_size(), " tokens");
  require(max_batch > 0, "micro-batch size must be positive");
  std::vector<float> out(static_cast<size_t>(total * H));
  for (int64_t start = 0; start < total; start += max_batch) {
    const int64_t n = std::min(max_batch, total - start);
    std::vector<int32_t> chunk(tokens.begin() + start, tokens.begin() + start + n);
    std::vector<float> hidden = run_layers(model, cache, chunk, pool);
    for (int64_t t = 0; t < n; ++t)
      rms_norm(&hidden[static_cast<size_t>(t * H)], model.weights.output_norm.data(), H, c.rms_eps,
               &out[static_cast<size_t>((start + t) * H)]);
  }
  return out;
}

void add_normed_residual(const ForwardContext& ctx, std::vector<float>& out, const std::vector<float>& weight,
                         std::vector<float>& x) {
  const ModelConfig& c = ctx.model.config;
  const int64_t H = c.hidden_size;
  for (int64_t t = 0; t < ctx.n_tokens; ++t) {
    float* ot = &out[static_cast<size_t>(t * H)];
    rms_norm(ot, weight.data(), H, c.rms_eps, ot);
    float* xt = &x[static_cast<size_t>(t * H)];
    for (int64_t i = 0; i < H; ++i) xt[i] += ot[i];
  }
}

void apply_rope(float* heads, int n_heads, const RopeAngles& a, int64_t token) {
  const float* cs = &a.cos[static_cast<size_t>(token * a.pairs)];
  const float* sn = &a.sin[static_cast<size_t>(token * a.pairs)];
  for (int h = 0; h < n_heads; ++h) {
    float* x = heads + static_cast<int64_t>(h) * 2 * a.half;
    // Rotate-half pairing: dim i with dim i + D/2 (spec §4.5.1).
    for (int i = 0; i < a.pairs; ++i) {
      const float x0 = x[i], x1 = x[i + a.half];
      x[i] = x0 * cs[i] - x1 * sn[i];
      x[i + a.half] = x1 * cs[i] + x0 * sn[i];
    }
  }
}

}  // namespace facet
