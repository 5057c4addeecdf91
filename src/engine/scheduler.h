// Serves many generation requests on one model at once (continuous batching): every
// active sequence's next decode step runs in one shared forward pass, prompts are
// prefilled in bounded chunks between decode steps (a long prompt does not stall the
// other streams), each sequence has its own KV cache, and a finished sequence's cache is
// kept so that a later request that extends it (the next turn of a chat) only runs the
// new tokens. The server drives it; callbacks run on the scheduler's own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/generation.h"
#include "model/model.h"
#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace facet {

class ThreadPool;

struct SchedulerOptions {
  int threads = 0;                  // <= 0: one per hardware thread
  int max_sequences = 8;            // sequences decoded together (KV caches allocated)
  int64_t context_size = 4096;      // positions per sequence (prompt + answer)
  int64_t max_queue = 64;           // waiting requests beyond which submit() refuses
  int64_t prefill_chunk = 256;      // prompt tokens run per step while others decode
  // How far back a new prompt may differ from an idle slot's cached tokens and still
  // reuse the cache before that point (sliding-window rings keep this many extra
  // positions; a chat's next prompt drops the last answer's thought block). As Generator.
  int64_t rewind_tokens = 1024;
  KvCacheTypes cache_types = kDefaultKvCacheTypes;  // f16 K and V, as llama.cpp
  // Sets the model's LoRA adapter scales (SequenceRequest::adapter_scales) before a forward
  // pass; empty when the model has no adapters. Called on the worker thread only, between
  // forward passes, so it may change what the model's matmuls read.
  std::function<void(const std::vector<double>& scales)> set_adapter_scales;
  // Speculative decoding for every request (null: none): after each sampled token the
  // drafter guesses draft_min to draft_max more (per request, as its acceptance so far makes
  // worth checking: engine/draft_length.h), checked in the same batched pass as the other
  // sequences' steps (greedy output unchanged, sampled output keeps its distribution). It
  // is shared by all sequences, so it must keep no per-sequence state: prompt lookup or a
  // Gemma 4 assistant, which read everything from their DraftInput. Must outlive the scheduler.
  Drafter* drafter = nullptr;
  int draft_min = 1;
  int draft_max = 8;
};

struct SequenceRequest {
  std::vector<int32_t> prompt;      // the whole prompt, BOS included
  // Soft tokens of images/audio inside the prompt (media_prompt.h), in prompt order. An
  // idle slot's cache is reused across them only for the same media at the same place.
  std::vector<PromptMedia> media;
  SamplingOptions sampling;
  int64_t max_tokens = 256;         // new tokens at most (a stop token counts)
  std::vector<int32_t> stop_ids;    // generation ends after sampling one of these
  // One multiplier per attached LoRA adapter (empty: the model has none). Sequences with
  // different scales never share a forward pass, nor reuse each other's cached prefix.
  std::vector<double> adapter_scales;
  // Optional: sees the logits of every step before sampling and may mask entries
  // (set them to -infinity) — constrained decoding (JSON) lives on the caller's side.
  // `generated` holds the tokens sampled so far in this request.
  std::function<void(std::span<float> logits, const std::vector<int32_t>& generated)> logit_filter;
  // >= 0: on_logprob gets each sampled token's log-probability and this many alternatives
  // (sampling/logprobs.h), just before on_token; a stop token gets none.
  int top_logprobs = -1;
  std::function<void(const TokenLogprob&)> on_logprob;
};

// Called on the scheduler thread for every sampled token except a stop token, with the
// text it adds (as TokenCallback in generation.h). Returning false cancels the sequence
// (e.g. a stop string was seen, or the client went away); on_done then follows with
// StopReason::Cancelled.
using SequenceTokenCallback = std::function<bool(int32_t id, const std::string& text)>;
// Called exactly once per accepted request, last, on the scheduler thread. On an error
// (prompt too long for the context, bad token id) `error` is non-empty.
using SequenceDoneCallback = std::function<void(const GenerationResult& result, const std::string& error)>;

struct SchedulerStats {
  int64_t active = 0, queued = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0, reused_tokens = 0;  // totals since start
  int64_t requests_done = 0, requests_rejected = 0;
};

class Scheduler {
 public:
  // The model and tokenizer must outlive the scheduler. Starts the worker thread.
  Scheduler(const Model& model, const Tokenizer* tokenizer, SchedulerOptions options);
  ~Scheduler();  // cancels everything still running or queued (on_done is called) and joins
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; returns its id, or 0 when the queue is full (nothing is called back).
  uint64_t submit(SequenceRequest request, SequenceTokenCallback on_token, SequenceDoneCallback on_done);
  // Stops a request (queued or running) as soon as possible; its KV slot is freed at once.
  void cancel(uint64_t id);
  SchedulerStats stats() const;
  const SchedulerOptions& options() const;
  // Runs `task` on the worker thread between two steps, with the scheduler's thread pool,
  // and returns when it has run (its exception, if any, is rethrown here). For other work
  // on the same model (embeddings) that must not overlap a step: a step may change the
  // model's LoRA scales. The next step sets its scales again, whatever `task` set.
  void run_between_steps(const std::function<void(ThreadPool&)>& task);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace facet
