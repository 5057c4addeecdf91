// The layer loop of the training pass: embedding, per-layer embeddings, decoder layers
// (checkpointed), final norm, tied head, soft-cap, cross-entropy; and its backward.
#include "train/train_model.h"

#include <cmath>

#include "kernels/elementwise.h"
#include "tensor/convert.h"
#include "train/decoder_blocks.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

// Scaled token embeddings [n, H] and, with PLE, the per-layer inputs (spec §4.1, §4.2).
// Nothing here is trainable, so no gradient flows back past the first layer's input.
std::vector<float> embed(PassContext& ctx, const std::vector<int32_t>& tokens) {
  std::vector<float> x = embed_tokens(ctx.model, tokens);
  if (ctx.model.config.has_ple()) ctx.ple = per_layer_inputs(ctx.model, tokens, x, ctx.pool);
  return x;
}

struct LayerTapes {
  AttentionTape attention;
  FfnTape ffn;
  PleTape ple;
  std::vector<float> unscaled;  // the stream before the layer scalar (full training only)
};

void run_layer(PassContext& ctx, int layer, std::vector<float>& x, LayerTapes* tapes) {
  attention_fwd(ctx, layer, x, tapes ? &tapes->attention : nullptr);
  ffn_fwd(ctx, layer, x, tapes ? &tapes->ffn : nullptr);
  if (ctx.model.config.has_ple()) ple_fwd(ctx, layer, x, tapes ? &tapes->ple : nullptr);
  const float scalar = ctx.model.weights.layers[static_cast<size_t>(layer)].layer_scalar;
  if (tapes && ctx.full) tapes->unscaled = x;
  for (float& v : x) v *= scalar;  // the whole stream, after the PLE add
}

// dx: gradient of the layer's output in, of its input out.
void layer_backward(PassContext& ctx, int layer, const LayerTapes& tapes, std::vector<float>& dx) {
  const float& scalar = ctx.model.weights.layers[static_cast<size_t>(layer)].layer_scalar;
  if (std::vector<float>* dscalar = ctx.grad_of(&scalar)) {
    double sum = 0;
    for (size_t i = 0; i < dx.size(); ++i) sum += static_cast<double>(dx[i]) * tapes.unscaled[i];
    (*dscalar)[0] += static_cast<float>(sum);
  }
  for (float& v : dx) v *= scalar;
  if (ctx.model.config.has_ple()) ple_bwd(ctx, layer, tapes.ple, dx);
  ffn_bwd(ctx, layer, tapes.ffn, dx);
  attention_bwd(ctx, layer, tapes.attention, dx);
}

void check_input(const ModelConfig& c, const std::vector<int32_t>& tokens, const std::vector<int32_t>* targets) {
  require(!tokens.empty(), "no input tokens");
  require(c.max_context <= 0 || static_cast<int64_t>(tokens.size()) <= c.max_context, "the sequence (",
          tokens.size(), " tokens) is longer than the model's context of ", c.max_context);
  for (int32_t id : tokens)
    require(id >= 0 && id < c.vocab_size && (!c.has_ple() || id < c.ple_vocab), "token id ", id,
            " is out of range (the vocabulary has ", c.vocab_size, " entries)");
  if (!targets) return;
  require(targets->size() == tokens.size(), "targets (", targets->size(), ") and tokens (", tokens.size(),
          ") differ in length");
  for (int32_t id : *targets)
    require(id == kIgnoreTarget || (id >= 0 && id < c.vocab_size), "target id ", id, " is out of range");
}

void check_segments(const std::vector<int64_t>& segments, size_t n_tokens) {
  if (segments.empty()) return;
  int64_t sum = 0;
  for (int64_t length : segments) {
    require(length > 0, "a packed example has ", length, " tokens");
    sum += length;
  }
  require(sum == static_cast<int64_t>(n_tokens), "the packed examples have ", sum, " tokens but the sequence has ",
          n_tokens);
}

void append_rope(TrainRope& all, const RopeConfig& config, int64_t count) {
  TrainRope part = rope_angles(config, 0, count);
  all.pairs = part.pairs;
  all.half = part.half;
  all.cos.insert(all.cos.end(), part.cos.begin(), part.cos.end());
  all.sin.insert(all.sin.end(), part.sin.begin(), part.sin.end());
}

// Positions and mask bounds: each example (one, or each packed one) from position 0.
void lay_out_examples(PassContext& ctx, const std::vector<int64_t>& segments) {
  const ModelConfig& c = ctx.model.config;
  const std::vector<int64_t> whole = {ctx.n};
  ctx.rope_sliding = {};
  ctx.rope_full = {};
  ctx.example_start.clear();
  int64_t start = 0;
  for (int64_t length : segments.empty() ? whole : segments) {
    append_rope(ctx.rope_sliding, c.rope_sliding, length);
    append_rope(ctx.rope_full, c.rope_full, length);
    ctx.example_start.insert(ctx.example_start.end(), static_cast<size_t>(length), start);
    start += length;
  }
}

// Forward through all layers; keeps each layer's input in `inputs` when given.
std::vector<float> run_decoder(PassContext& ctx, const std::vector<int32_t>& tokens,
                               const std::vector<int64_t>& segments, std::vector<std::vector<float>>* inputs) {
  const ModelConfig& c = ctx.model.config;
  ctx.n = static_cast<int64_t>(tokens.size());
  lay_out_examples(ctx, segments);
  ctx.k.assign(static_cast<size_t>(c.n_layers), {});
  ctx.v.assign(static_cast<size_t>(c.n_layers), {});
  std::vector<float> x = embed(ctx, tokens);
  if (inputs) inputs->assign(static_cast<size_t>(c.n_layers), {});
  for (int layer = 0; layer < c.n_layers; ++layer) {
    if (inputs) (*inputs)[static_cast<size_t>(layer)] = x;
    run_layer(ctx, layer, x, nullptr);
  }
  return x;
}

// Final norm, tied head, soft-cap for `rows` hidden states.
void head_logits(const PassContext& ctx, const float* hidden, int64_t rows, float* normed, float* logits) {
  const ModelConfig& c = ctx.model.config;
  rms_norm_rows(hidden, ctx.model.weights.output_norm.data(), rows, c.hidden_size, c.rms_eps, normed);
  matmul(as_matrix(ctx.model.weights.token_embd), normed, rows, logits, &ctx.pool);
  if (c.final_logit_softcap > 0) soft_cap(logits, rows * c.vocab_size, c.final_logit_softcap);
}

// Loss over the target rows, in chunks; with dhidden, also its gradient (scaled).
LossResult head_loss(const PassContext& ctx, const std::vector<float>& hidden, const std::vector<int32_t>& targets,
                     const PassOptions& options, std::vector<float>* dhidden) {
  const ModelConfig& c = ctx.model.config;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  std::vector<int64_t> rows;
  for (size_t t = 0; t < targets.size(); ++t)
    if (targets[t] != kIgnoreTarget) rows.push_back(static_cast<int64_t>(t));
  LossResult result;
  result.n_targets = static_cast<int64_t>(rows.size());
  if (rows.empty()) return result;
  const double scale = options.grad_scale != 0 ? options.grad_scale : 1.0 / static_cast<double>(rows.size());
  const int64_t chunk = std::max<int64_t>(1, options.head_chunk);
  for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(chunk)) {
    const int64_t m = std::min<int64_t>(chunk, static_cast<int64_t>(rows.size() - start));
    std::vector<float> h(static_cast<size_t>(m * H)), normed(h.size()), logits(static_cast<size_t>(m * V));
    for (int64_t i = 0; i < m; ++i)
      std::copy_n(&hidden[static_cast<size_t>(rows[start + static_cast<size_t>(i)] * H)], H, &h[static_cast<size_t>(i * H)]);
    head_logits(ctx, h.data(), m, normed.data(), logits.data());
    std::vector<float> dlogits(logits.size());
    for (int64_t i = 0; i < m; ++i) {
      float* z = &logits[static_cast<size_t>(i * V)];
      float* dz = &dlogits[static_cast<size_t>(i * V)];
      result.loss_sum += cross_entropy(z, V, targets[static_cast<size_t>(rows[start + static_cast<size_t>(i)])], scale, dz);
      if (c.final_logit_softcap > 0)
        for (int64_t j = 0; j < V; ++j) dz[j] *= soft_cap_grad_from_output(z[j], c.final_logit_softcap);
    }
    if (!dhidden) continue;
    std::vector<float> dnormed(normed.size(), 0.0f);
    matmul_transposed_add(as_matrix(ctx.model.weights.token_embd), dlogits.data(), m, dnormed.data(), &ctx.pool);
    if (std::vector<float>* dembd = ctx.grad_of(ctx.model.weights.token_embd.data))  // the tied head
      add_weight_grad(normed.data(), dlogits.data(), m, H, V, dembd->data(), ctx.pool);
    if (std::vector<float>* dnorm = ctx.grad_of(ctx.model.weights.output_norm.data()))
      rms_norm_rows_weight_grad(h.data(), m, H, c.rms_eps, dnormed.data(), dnorm->data());
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = rows[start + static_cast<size_t>(i)];
      rms_norm_bwd(&h[static_cast<size_t>(i * H)], ctx.model.weights.output_norm.data(), H, c.rms_eps,
                   &dnormed[static_cast<size_t>(i * H)], &(*dhidden)[static_cast<size_t>(t * H)]);
    }
  }
  return result;
}

// Backward of the embedding step (full training): the token table's rows get the scaled
// gradient of the first layer's input and, with PLE, the per-layer inputs' gradient flows
// into their token table, projection and norm (spec §4.1, §4.2), and from the projection
// back into the token embeddings.
void embedding_backward(PassContext& ctx, const std::vector<int32_t>& tokens, std::vector<float>& dx0) {
  const ModelConfig& c = ctx.model.config;
  const ModelWeights& w = ctx.model.weights;
  const int64_t n = ctx.n, H = c.hidden_size;
  if (c.has_ple()) {
    const int64_t P = c.ple_dim, LP = static_cast<int64_t>(c.n_layers) * P;
    const std::vector<float> x0 = embed_tokens(ctx.model, tokens);
    std::vector<float> z(static_cast<size_t>(n * LP));  // projection × 1/√H, before the norm
    matmul(w.ple_model_proj, x0.data(), n, z.data(), &ctx.pool);
    const float inv_sqrt_h = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H)));
    const float sqrt_p = static_cast<float>(std::sqrt(static_cast<double>(P)));
    const float inv_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
    for (float& v : z) v *= inv_sqrt_h;
    std::vector<float> dz(z.size(), 0.0f), dnormed(z.size());
    std::vector<float>* dtable = ctx.grad_of(w.ple_token_embd.data);
    for (int64_t t = 0; t < n; ++t) {
      float* table_row = dtable ? &(*dtable)[static_cast<size_t>(tokens[static_cast<size_t>(t)] * LP)] : nullptr;
      for (int64_t i = 0; i < LP; ++i) {
        const float g = ctx.dple[static_cast<size_t>(t * LP + i)] * inv_sqrt2;
        dnormed[static_cast<size_t>(t * LP + i)] = g;
        if (table_row) table_row[i] += g * sqrt_p;
      }
    }
    ctx.norm_rows_bwd(z.data(), w.ple_proj_norm, n * c.n_layers, P, dnormed.data(), dz.data());
    for (float& v : dz) v *= inv_sqrt_h;
    matmul_transposed_add(w.ple_model_proj, dz.data(), n, dx0.data(), &ctx.pool);
    if (std::vector<float>* dproj = ctx.grad_of(w.ple_model_proj.data))
      add_weight_grad(x0.data(), dz.data(), n, H, LP, dproj->data(), ctx.pool);
  }
  if (std::vector<float>* dembd = ctx.grad_of(w.token_embd.data)) {
    const float scale = ctx.model.embedding_scale;
    for (int64_t t = 0; t < n; ++t) {
      float* row = &(*dembd)[static_cast<size_t>(tokens[static_cast<size_t>(t)] * H)];
      for (int64_t i = 0; i < H; ++i) row[i] += dx0[static_cast<size_t>(t * H + i)] * scale;
    }
  }
}

// Forward with checkpoints, loss, and backward through every layer (and, in full
// training, the embeddings), adding gradients wherever the context collects them.
LossResult forward_backward(PassContext& ctx, const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets,
                            const PassOptions& options) {
  const ModelConfig& c = ctx.model.config;
  std::vector<std::vector<float>> inputs;
  std::vector<float> hidden = run_decoder(ctx, tokens, options.segments, &inputs);
  std::vector<float> dx(hidden.size(), 0.0f);
  LossResult result = head_loss(ctx, hidden, targets, options, &dx);
  if (result.n_targets == 0) return result;  // nothing to learn from: all gradients are zero
  hidden.clear();

  ctx.dk.assign(static_cast<size_t>(c.n_layers), {});
  ctx.dv.assign(static_cast<size_t>(c.n_layers), {});
  for (int layer = 0; layer < c.n_layers; ++layer)
    if (c.layers[static_cast<size_t>(layer)].owns_kv) {
      ctx.dk[static_cast<size_t>(layer)].assign(ctx.k[static_cast<size_t>(layer)].size(), 0.0f);
      ctx.dv[static_cast<size_t>(layer)].assign(ctx.v[static_cast<size_t>(layer)].size(), 0.0f);
    }
  if (ctx.full && c.has_ple()) ctx.dple.assign(ctx.ple.size(), 0.0f);
  for (int layer = c.n_layers - 1; layer >= 0; --layer) {
    // Checkpointing: rebuild this layer's tapes from its saved input, then backprop it.
    LayerTapes tapes;
    std::vector<float> x = std::move(inputs[static_cast<size_t>(layer)]);
    run_layer(ctx, layer, x, &tapes);
    layer_backward(ctx, layer, tapes, dx);
  }
  if (ctx.full) embedding_backward(ctx, tokens, dx);
  return result;
}

}  // namespace

std::vector<int32_t> next_token_targets(const std::vector<int32_t>& tokens) {
  std::vector<int32_t> targets(tokens.size(), kIgnoreTarget);
  for (size_t t = 0; t + 1 < tokens.size(); ++t) targets[t] = tokens[t + 1];
  return targets;
}

std::vector<float> training_logits(const Model& model, const LoraModel* lora, const std::vector<int32_t>& tokens,
                                   ThreadPool& pool) {
  check_input(model.config, tokens, nullptr);
  PassContext ctx(model, const_cast<LoraModel*>(lora), pool);  // forward only: never written
  std::vector<float> hidden = run_decoder(ctx, tokens, {}, nullptr);
  std::vector<float> normed(hidden.size()), logits(static_cast<size_t>(ctx.n * model.config.vocab_size));
  head_logits(ctx, hidden.data(), ctx.n, normed.data(), logits.data());
  return logits;
}

std::vector<float> training_last_logits(const Model& model, const LoraModel* lora, const std::vector<int32_t>& tokens,
                                        ThreadPool& pool) {
  check_input(model.config, tokens, nullptr);
  PassContext ctx(model, const_cast<LoraModel*>(lora), pool);  // forward only: never written
  std::vector<float> hidden = run_decoder(ctx, tokens, {}, nullptr);
  const int64_t H = model.config.hidden_size;
  std::vector<float> normed(static_cast<size_t>(H)), logits(static_cast<size_t>(model.config.vocab_size));
  head_logits(ctx, &hidden[static_cast<size_t>((ctx.n - 1) * H)], 1, normed.data(), logits.data());
  return logits;
}

LossResult training_loss(const Model& model, const LoraModel* lora, const std::vector<int32_t>& tokens,
                         const std::vector<int32_t>& targets, const PassOptions& options, ThreadPool& pool) {
  check_input(model.config, tokens, &targets);
  check_segments(options.segments, tokens.size());
  PassContext ctx(model, const_cast<LoraModel*>(lora), pool);  // forward only: never written
  if (lora && options.training) ctx.dropout = lora->config.dropout;
  ctx.dropout_seed = options.dropout_seed;
  std::vector<float> hidden = run_decoder(ctx, tokens, options.segments, nullptr);
  return head_loss(ctx, hidden, targets, options, nullptr);
}

LossResult training_gradients(const Model& model, LoraModel& lora, const std::vector<int32_t>& tokens,
                              const std::vector<int32_t>& targets, const PassOptions& options, ThreadPool& pool) {
  const ModelConfig& c = model.config;
  check_input(c, tokens, &targets);
  check_segments(options.segments, tokens.size());
  require(lora.layers.size() == static_cast<size_t>(c.n_layers), "the adapter has ", lora.layers.size(),
          " layers but the model has ", c.n_layers);
  PassContext ctx(model, &lora, pool);
  if (options.training) ctx.dropout = lora.config.dropout;
  ctx.dropout_seed = options.dropout_seed;
  return forward_backward(ctx, tokens, targets, options);
}

LossResult full_training_gradients(FullModel& full, const std::vector<int32_t>& tokens,
                                   const std::vector<int32_t>& targets, const PassOptions& options, ThreadPool& pool) {
  const Model& model = full.model();
  check_input(model.config, tokens, &targets);
  check_segments(options.segments, tokens.size());
  PassContext ctx(model, nullptr, pool);
  ctx.full = &full;
  return forward_backward(ctx, tokens, targets, options);
}

}  // namespace facet::train
