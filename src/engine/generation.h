// Text generation for one sequence: prefill + decode with a sampler, streaming each new
// token and its text to a callback. The KV cache lives as long as the Generator, so a
// chat can append turns and only the new tokens are run (the longest prefix shared with
// what the cache already holds is reused). No terminal I/O here: the CLI and the server
// both drive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/draft.h"
#include "model/forward.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace facet {

struct GenerationOptions {
  SamplingOptions sampling;
  int64_t max_tokens = 256;            // new tokens at most (the stop token counts)
  std::vector<int32_t> stop_ids;       // generation ends after sampling one of these
  const std::atomic<bool>* cancel = nullptr;  // checked before every forward step
  // Speculative decoding: the drafter guesses between `draft_min` and `draft_max` tokens per
  // step (as many as the acceptance so far makes worth checking: engine/draft_length.h) and
  // the model checks them in one forward pass. The output is the same as without (greedy:
  // token for token; sampled: the same distribution), only faster when guesses are right.
  // Drafts are also bounded by the Generator's rewind_tokens (rejected ones are taken back
  // out of the KV cache). Null: one token per forward pass.
  Drafter* drafter = nullptr;
  int draft_min = 1;
  int draft_max = 8;
};

enum class StopReason { StopToken, MaxTokens, Cancelled, ContextFull };
const char* stop_reason_name(StopReason reason);  // "stop", "length", "cancelled", "context"

struct GenerationResult {
  StopReason stop_reason = StopReason::MaxTokens;
  std::vector<int32_t> tokens;           // every sampled token, the stop token included
  std::optional<int32_t> stop_token;     // the stop id that ended it, if one did
  int64_t prompt_tokens = 0;             // length of the prompt given
  int64_t reused_tokens = 0;             // prompt tokens already in the KV cache
  double prefill_seconds = 0;            // running the new prompt tokens
  double decode_seconds = 0;             // sampling and running the new tokens
  int64_t drafted_tokens = 0;            // speculative decoding: draft tokens checked ...
  int64_t accepted_tokens = 0;           // ... and kept (the rest were the drafter's mistakes)
  int64_t forward_steps = 0;             // forward passes after the prompt
  int64_t prefilled_tokens() const { return prompt_tokens - reused_tokens; }
};

// Called for each sampled token except a stop token. `text` is what the token adds to the
// output as whole UTF-8 characters (special tokens written out, e.g. "<|channel>"); it is
// empty while a character split over byte tokens is incomplete. A character still
// incomplete when generation ends comes last as U+FFFD with id -1.
using TokenCallback = std::function<void(int32_t id, const std::string& text)>;

// An image's or audio clip's soft tokens in a prompt: they replace the embeddings of the
// prompt's tokens [first, first + rows.size() / hidden) (the placeholder tokens). `hash`
// identifies the media (its bytes) so a later prompt with the same media at the same place
// can reuse the KV cache after it, and one with other media cannot.
struct PromptMedia {
  int64_t first = 0;
  std::vector<float> rows;  // [count, hidden size of the model]
  uint64_t hash = 0;
  bool image = false;       // an image's soft tokens (EmbeddingSpan::image); false: audio
};

// Where media sit in a token sequence, for the prefix caches (Generator, Scheduler).
struct MediaSpanKey {
  int64_t first = 0, count = 0;
  uint64_t hash = 0;
  bool operator==(const MediaSpanKey&) const = default;
};
std::vector<MediaSpanKey> media_keys(const std::vector<PromptMedia>& media, int64_t hidden);
// Placeholder tokens look alike whatever the image: `keep` cut back to the first media span
// before it that the cache and the new prompt do not share (same place, count and hash).
int64_t prefix_before_media_change(int64_t keep, const std::vector<MediaSpanKey>& cached,
                                   const std::vector<MediaSpanKey>& prompt);
// Throws Error unless the media fit a prompt of n_tokens in order, rows `hidden` wide.
void check_prompt_media(const std::vector<PromptMedia>& media, int64_t n_tokens, int64_t hidden);
// The media rows within prompt tokens [start, end), as spans relative to start.
std::vector<EmbeddingSpan> media_spans_in(const std::vector<PromptMedia>& media, int64_t start, int64_t end,
                                          int64_t hidden);

// The ids that end a Gemma 4 turn, looked up by text so synthetic vocabularies work:
// the tokenizer's EOS, "<eos>" and "<turn|>" where present; with `tools_offered` also
// "<|tool_response>", which the model writes right after its tool calls.
std::vector<int32_t> default_stop_ids(const Tokenizer& tokenizer, bool tools_offered = false);

class Generator {
 public:
  // `context_size`: positions the KV cache holds (prompt + answer, all turns together).
  // `threads` <= 0: one per hardware thread. `rewind_tokens`: how far back a later prompt
  // may differ from the cached sequence and still reuse the cache before it (sliding-window
  // layers keep that many extra positions; the chat history drops the previous answer's
  // thought block, so the next prompt differs from the cache from that answer on).
  // The model and tokenizer must outlive it; without a tokenizer (token-id prompts) the
  // callback gets empty text. `cache_types`: how K and V rows are stored (f32 by default
  // here, exact; the CLI defaults to f16 like llama.cpp).
  Generator(const Model& model, const Tokenizer* tokenizer, int64_t context_size, int threads = 0,
            int64_t rewind_tokens = 0, KvCacheTypes cache_types = {});

  // Runs `prompt` (the whole sequence, BOS included) and samples after it. Throws Error
  // when the prompt is empty or does not fit in the context. On return the cache holds
  // the prompt and every sampled token except the last (which was never run).
  // `media`: soft tokens of images/audio inside the prompt, in prompt order.
  GenerationResult generate(const std::vector<int32_t>& prompt, const GenerationOptions& options,
                            const TokenCallback& on_token = {}, const std::vector<PromptMedia>& media = {});

  // Brings the cache to exactly `prompt` and returns the logits after its last token,
  // running only what the cache does not already hold. `reused` receives how many prompt
  // tokens were kept. A cancel flag seen between micro-batches returns an empty vector.
  std::vector<float> prefill(const std::vector<int32_t>& prompt, int64_t* reused = nullptr,
                             const std::atomic<bool>* cancel = nullptr, const std::vector<PromptMedia>& media = {});

  void reset();  // forget the cached sequence
  const std::vector<int32_t>& cached_tokens() const { return cached_; }
  int64_t context_size() const { return cache_.context_size(); }
  const Model& model() const { return model_; }
  const Tokenizer* tokenizer() const { return tokenizer_; }

 private:
  // Cached tokens that can stay for `prompt`: the shared prefix, shortened so that at
  // least one prompt token is run (its logits are needed) and so that the cache can
  // actually go back to it (sliding-window rings can only go back inside the window).
  int64_t reusable_prefix(const std::vector<int32_t>& prompt, const std::vector<PromptMedia>& media) const;
  // The drafter's guesses for after `next`, cut to what this step can check.
  // Up to `length` drafts after `next` (fewer near the token limit or the context's end).
  std::vector<int32_t> propose_drafts(const GenerationOptions& options, int length, int32_t next,
                                      const GenerationResult& result);

  const Model& model_;
  const Tokenizer* tokenizer_;
  ThreadPool pool_;
  KvCache cache_;
  int64_t rewind_tokens_;
  std::vector<int32_t> cached_;  // the tokens whose K/V the cache holds, in order
  std::vector<MediaSpanKey> cached_media_;  // media among cached_ (whole spans only)
  // The final normed hidden state after the last cached token (for Gemma 4 drafters).
  std::vector<float> last_hidden_;
};

}  // namespace facet
