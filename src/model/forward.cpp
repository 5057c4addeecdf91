// The layer loop: embedding, per-layer embeddings, decoder layers, final norm, tied
// output head and soft-cap (spec §4.1, §4.4, §4.8).
#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "model/forward_context.h"
#include "model/model_inputs.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {
namespace {

// Appends the angles of `count` positions from `first` to `all`.
void append_rope(RopeAngles& all, const RopeConfig& config, int64_t first, int64_t count) {
  RopeAngles part = rope_angles(config, first, count);
  all.pairs = part.pairs;
  all.half = part.half;
  all.cos.insert(all.cos.end(), part.cos.begin(), part.cos.end());
  all.sin.insert(all.sin.end(), part.sin.begin(), part.sin.end());
}

// One micro-batch of one or more sequences (tokens concatenated in sequence order, each
// sequence's tokens following on its cache); returns the final hidden states [n, H].
std::vector<float> run_layers(const Model& model, const std::vector<BatchSequence>& sequences, ThreadPool& pool) {
  const ModelConfig& c = model.config;
  ForwardContext ctx(model, pool);
  std::vector<int32_t> tokens;
  std::vector<EmbeddingSpan> media;  // spans re-based on the whole batch
  for (const BatchSequence& s : sequences) {
    const int64_t count = static_cast<int64_t>(s.tokens.size());
    for (const EmbeddingSpan& m : s.media) media.push_back({ctx.n_tokens + m.first, m.count, m.rows, m.image});
    ctx.segments.push_back({s.cache, s.cache->n_past(), ctx.n_tokens, count});
    ctx.segment_of.insert(ctx.segment_of.end(), static_cast<size_t>(count), static_cast<int32_t>(ctx.segments.size() - 1));
    tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.end());
    append_rope(ctx.rope_sliding, c.rope_sliding, s.cache->n_past(), count);
    append_rope(ctx.rope_full, c.rope_full, s.cache->n_past(), count);
    ctx.n_tokens += count;
  }
  ctx.types = sequences.front().cache->types();
  // Each row sees the rows of its own image block both ways (spec §4.3), the others causally.
  ctx.block_first.resize(static_cast<size_t>(ctx.n_tokens));
  ctx.block_last.resize(static_cast<size_t>(ctx.n_tokens));
  for (int64_t t = 0; t < ctx.n_tokens; ++t) ctx.block_first[static_cast<size_t>(t)] = ctx.block_last[static_cast<size_t>(t)] = t;
  if (c.bidirectional_images)
    for (const EmbeddingSpan& m : media)
      if (m.image)
        for (int64_t t = m.first; t < m.first + m.count; ++t) {
          ctx.block_first[static_cast<size_t>(t)] = m.first;
          ctx.block_last[static_cast<size_t>(t)] = m.first + m.count - 1;
        }
  for (auto* buffers : {&ctx.batch_k, &ctx.batch_v}) buffers->resize(static_cast<size_t>(c.n_layers));
  for (auto* buffers : {&ctx.stored_k, &ctx.stored_v}) buffers->resize(static_cast<size_t>(c.n_layers));

  // Media positions are looked up as the pad token (id 0), then take their soft tokens.
  for (const EmbeddingSpan& m : media) std::fill_n(tokens.begin() + m.first, m.count, 0);
  std::vector<float> x = embed_tokens(model, tokens);
  const int64_t H = c.hidden_size;
  for (const EmbeddingSpan& m : media) std::copy_n(m.rows, m.count * H, x.begin() + m.first * H);
  if (c.has_ple()) ctx.ple = per_layer_inputs(model, tokens, x, pool);

  for (int layer = 0; layer < c.n_layers; ++layer) {
    attention_block(ctx, layer, x);
    feed_forward_block(ctx, layer, x);
    if (c.has_ple()) ple_block(ctx, layer, x);
    const float scalar = model.weights.layers[static_cast<size_t>(layer)].layer_scalar;
    for (float& v : x) v *= scalar;  // the whole stream, after the PLE add (pitfall 12)
  }

  // The batch's K/V join the caches only now: KV-shared layers read them from the batch
  // buffers, and a ring write earlier could overwrite history those layers still need.
  for (const BatchSegment& seg : ctx.segments) {
    for (int layer = 0; layer < c.n_layers; ++layer) {
      KvCache::Layer& l = seg.cache->layer(layer);
      if (!l.present) continue;
      const uint8_t* k = ctx.stored_k[static_cast<size_t>(layer)].data();
      const uint8_t* v = ctx.stored_v[static_cast<size_t>(layer)].data();
      for (int64_t t = 0; t < seg.count; ++t) {
        const int64_t slot = KvCache::slot(l, seg.first_position + t);
        const size_t row = static_cast<size_t>(seg.begin + t);
        std::copy_n(k + row * l.k_row_bytes, l.k_row_bytes, l.k_row(slot));
        std::copy_n(v + row * l.v_row_bytes, l.v_row_bytes, l.v_row(slot));
      }
    }
    seg.cache->advance(seg.count);
  }
  return x;
}

// Final norm, tied output head, soft-cap for `rows` hidden states; the normed rows are
// also copied to `normed_out` when given.
void output_logits(const Model& model, const float* hidden, int64_t rows, float* logits, ThreadPool& pool,
                   float* normed_out = nullptr) {
  const ModelConfig& c = model.config;
  const int64_t H = c.hidden_size;
  std::vector<float> normed(static_cast<size_t>(rows * H));
  for (int64_t t = 0; t < rows; ++t)
    rms_norm(hidden + t * H, model.weights.output_norm.data(), H, c.rms_eps, &normed[static_cast<size_t>(t * H)]);
  if (normed_out != nullptr) std::copy(normed.begin(), normed.end(), normed_out);
  WeightMatrix head = as_matrix(model.weights.token_embd);
  head.packed = model.weights.token_embd_packed;
  matmul(head, normed.data(), rows, logits, &pool);
  // The cap is a tanh per logit (a whole vocabulary per row): split over the pool's threads.
  // Every element gets the same arithmetic wherever a chunk starts, so the split changes no bit.
  if (c.final_logit_softcap > 0)
    pool.parallel_for(
        rows * c.vocab_size,
        [&](int64_t begin, int64_t end) { soft_cap(logits + begin, end - begin, c.final_logit_softcap); }, 1 << 14);
}

void check_tokens(const ModelConfig& c, std::span<const int32_t> tokens) {
  for (int32_t id : tokens)
    require(id >= 0 && id < c.vocab_size && (!c.has_ple() || id < c.ple_vocab), "token id ", id,
            " is out of range (the vocabulary has ", c.vocab_size, " entries)");
}

void check_media(std::span<const EmbeddingSpan> media, int64_t n_tokens) {
  int64_t end = 0;
  for (const EmbeddingSpan& m : media) {
    require(m.rows != nullptr && m.count > 0 && m.first >= end && m.first + m.count <= n_tokens,
            "media soft tokens [", m.first, ", ", m.first + m.count, ") do not fit the ", n_tokens,
            " input tokens in order");
    end = m.first + m.count;
  }
}

// The parts of `media` inside tokens [start, start + n), re-based on start.
std::vector<EmbeddingSpan> media_in(std::span<const EmbeddingSpan> media, int64_t start, int64_t n, int64_t H) {
  std::vector<EmbeddingSpan> out;
  for (const EmbeddingSpan& m : media) {
    const int64_t begin = std::max(m.first, start), end = std::min(m.first + m.count, start + n);
    if (begin < end) out.push_back({begin - start, end - begin, m.rows + (begin - m.first) * H, m.image});
  }
  return out;
}

void check_fits(const KvCache& cache, int64_t total) {
  require(cache.n_past() + total <= cache.context_size(), "the input (", total, " tokens after ",
          cache.n_past(), " cached) does not fit in the context of ", cache.context_size(), " tokens");
}

}  // namespace

int64_t micro_batch_end(const ModelConfig& config, std::span<const EmbeddingSpan> media, int64_t start,
                        int64_t max_n, int64_t total) {
  int64_t end = std::min(total, start + max_n);
  if (!config.bidirectional_images) return end;
  for (const EmbeddingSpan& m : media) {
    if (!m.image || m.first >= end || m.first + m.count <= end) continue;  // the cut is not inside it
    end = m.first > start ? m.first : m.first + m.count;
  }
  return end;
}

std::vector<float> forward(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                           LogitsFor which, ThreadPool& pool, int64_t max_batch, std::vector<float>* final_hidden,
                           std::span<const EmbeddingSpan> media) {
  const ModelConfig& c = model.config;
  require(!tokens.empty(), "no input tokens");
  check_tokens(c, tokens);
  const int64_t total = static_cast<int64_t>(tokens.size());
  check_fits(cache, total);
  check_media(media, total);
  require(max_batch > 0, "micro-batch size must be positive");

  const int64_t V = c.vocab_size, H = c.hidden_size;
  const int64_t rows = which == LogitsFor::AllTokens ? total : 1;
  std::vector<float> logits(static_cast<size_t>(rows * V));
  if (final_hidden != nullptr) final_hidden->resize(static_cast<size_t>(rows * H));
  auto normed_rows = [&](int64_t row) { return final_hidden ? &(*final_hidden)[static_cast<size_t>(row * H)] : nullptr; };
  for (int64_t start = 0, n = 0; start < total; start += n) {
    n = micro_batch_end(c, media, start, max_batch, total) - start;
    const std::span<const int32_t> chunk(tokens.data() + start, static_cast<size_t>(n));
    const std::vector<EmbeddingSpan> chunk_media = media_in(media, start, n, H);
    std::vector<float> hidden = run_layers(model, {BatchSequence{&cache, chunk, false, chunk_media}}, pool);
    if (which == LogitsFor::AllTokens)
      output_logits(model, hidden.data(), n, &logits[static_cast<size_t>(start * V)], pool, normed_rows(start));
    else if (start + n == total)
      output_logits(model, &hidden[static_cast<size_t>((n - 1) * H)], 1, logits.data(), pool, normed_rows(0));
  }
  return logits;
}

std::vector<float> forward_batch(const Model& model, const std::vector<BatchSequence>& sequences, ThreadPool& pool,
                                 std::vector<float>* final_hidden) {
  const ModelConfig& c = model.config;
  require(!sequences.empty(), "no sequences to run");
  // Everything is checked before any cache is touched.
  for (size_t i = 0; i < sequences.size(); ++i) {
    const BatchSequence& s = sequences[i];
    require(s.cache != nullptr, "sequence ", i, " has no KV cache");
    require(!s.tokens.empty(), "sequence ", i, " has no input tokens");
    check_tokens(c, s.tokens);
    check_fits(*s.cache, static_cast<int64_t>(s.tokens.size()));
    check_media(s.media, static_cast<int64_t>(s.tokens.size()));
    for (size_t j = 0; j < i; ++j)
      require(sequences[j].cache != s.cache, "sequences ", j, " and ", i, " share a KV cache");
    const KvCacheTypes& a = s.cache->types(), &b = sequences.front().cache->types();
    require(a.k == b.k && a.v == b.v, "sequences 0 and ", i, " have KV caches of different types");
  }
  const int64_t H = c.hidden_size;
  std::vector<float> hidden = run_layers(model, sequences, pool);
  // Only each sequence's last row (or, with all_rows, each of its rows) goes through the
  // output head, in one product for all.
  std::vector<float> rows;
  int64_t end = 0, n_rows = 0;
  for (const BatchSequence& s : sequences) {
    const int64_t count = static_cast<int64_t>(s.tokens.size()), take = s.all_rows ? count : 1;
    end += count;
    rows.insert(rows.end(), hidden.begin() + (end - take) * H, hidden.begin() + end * H);
    n_rows += take;
  }
  std::vector<float> logits(static_cast<size_t>(n_rows) * static_cast<size_t>(c.vocab_size));
  if (final_hidden != nullptr) final_hidden->resize(static_cast<size_t>(n_rows * H));
  output_logits(model, rows.data(), n_rows, logits.data(), pool, final_hidden ? final_hidden->data() : nullptr);
  return logits;
}

std::vector<float> forward_hidden_states(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                                         ThreadPool& pool, int64_t max_batch) {
  const ModelConfig& c = model.config;
  require(!tokens.empty(), "no input tokens");
  check_tokens(c, tokens);
  const int64_t total = static_cast<int64_t>(tokens.size()), H = c.hidden_size;
  check_fits(cache, total);
  require(max_batch > 0, "micro-batch size must be positive");
  std::vector<float> out(static_cast<size_t>(total * H));
  for (int64_t start = 0; start < total; start += max_batch) {
    const int64_t n = std::min(max_batch, total - start);
    const std::span<const int32_t> chunk(tokens.data() + start, static_cast<size_t>(n));
    std::vector<float> hidden = run_layers(model, {BatchSequence{&cache, chunk}}, pool);
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
  ctx.pool.parallel_for(ctx.n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* ot = &out[static_cast<size_t>(t * H)];
      rms_norm(ot, weight.data(), H, c.rms_eps, ot);
      float* xt = &x[static_cast<size_t>(t * H)];
      for (int64_t i = 0; i < H; ++i) xt[i] += ot[i];
    }
  }, kTokensPerChunk);
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
