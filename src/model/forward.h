// The Gemma 4 text decoder forward pass on CPU (spec §4), f32 activations.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_cache.h"
#include "model/model.h"

namespace facet {

class ThreadPool;

enum class LogitsFor { LastToken, AllTokens };

// Soft tokens (an image's or an audio clip's, spec §9.3) that take the place of the
// embeddings of tokens [first, first + count) of one call's tokens: `rows` holds count
// rows of the model's hidden size. Those positions are embedded as the pad token (id 0)
// for the per-layer embeddings' token part, then their rows are replaced as they are
// (no √H scaling). On models with bidirectional image attention (ModelConfig::
// bidirectional_images) an image's soft tokens also see the later ones of the same span;
// such a span is never split between micro-batches (see micro_batch_end).
struct EmbeddingSpan {
  int64_t first = 0;
  int64_t count = 0;
  const float* rows = nullptr;
  bool image = false;  // an image's (or a video frame's) soft tokens; false: audio
};

// Where a micro-batch (or prompt chunk) that starts at token `start` of `total` and holds at
// most `max_n` tokens ends: start + max_n or total, but on models with bidirectional image
// attention never inside an image span (before it, or after it when it begins at `start`, even
// if that is more than max_n tokens), since an image's soft tokens must run in one pass.
int64_t micro_batch_end(const ModelConfig& config, std::span<const EmbeddingSpan> media, int64_t start,
                        int64_t max_n, int64_t total);

// Runs `tokens` at positions cache.n_past() ... through the model, appends their K/V to
// the cache and returns logits, row-major [rows, vocab] (rows = 1 or tokens.size()).
// Long inputs are processed in micro-batches of at most `max_batch` tokens; the result
// does not depend on the batch size. Throws Error for an out-of-range token id or when
// the input does not fit in the cache's context. With `final_hidden`, also the final
// normed hidden states of the same rows, [rows, hidden] (what a Gemma 4 drafter reads).
// `media`: soft tokens replacing some of `tokens`' embeddings (spans within the tokens,
// not overlapping).
std::vector<float> forward(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                           LogitsFor which, ThreadPool& pool, int64_t max_batch = 512,
                           std::vector<float>* final_hidden = nullptr, std::span<const EmbeddingSpan> media = {});

// One sequence's part of a batched step: its own cache and the tokens it runs next (one
// when decoding, a prompt chunk when prefilling).
struct BatchSequence {
  KvCache* cache = nullptr;
  std::span<const int32_t> tokens;
  bool all_rows = false;  // logits after every token (speculative decoding's check), not the last only
  std::span<const EmbeddingSpan> media = {};  // soft tokens within `tokens`
};

// One step for several sequences at once: every matrix product runs over all their tokens
// together (the weights are read once per step, not once per sequence), attention stays
// within each sequence's own cache. Returns the logits after each sequence's last token
// (after every token for sequences with all_rows), rows in sequence order; each row equals
// what forward() gives that sequence alone. With `final_hidden`, also the final normed
// hidden states of the same rows. The caches must be distinct. Throws Error (touching no
// cache) for an out-of-range id, an empty token list or input that does not fit in its cache.
std::vector<float> forward_batch(const Model& model, const std::vector<BatchSequence>& sequences, ThreadPool& pool,
                                 std::vector<float>* final_hidden = nullptr);

// The final hidden states (after the last layer and the final RMSNorm, as Hugging Face's
// last_hidden_state), row-major [tokens, hidden]; the cache advances as in forward().
// Used for embeddings.
std::vector<float> forward_hidden_states(const Model& model, KvCache& cache, const std::vector<int32_t>& tokens,
                                         ThreadPool& pool, int64_t max_batch = 512);

}  // namespace facet
