// Sources of draft tokens for speculative decoding. A drafter guesses the next few tokens
// cheaply; the main model then runs them all in one forward pass and keeps the longest
// prefix it agrees with (see Generator::generate), so the output is the main model's own,
// only sooner. Two kinds here:
//   - PromptLookupDrafter (llama.cpp's "lookup" / vLLM's "ngram"): finds the last few
//     tokens earlier in the context and proposes what followed them there. Free, and good
//     where answers quote the prompt (summaries, code edits, RAG, JSON).
//   - ModelDrafter: a smaller model with the same vocabulary (e.g. a Gemma 4 E2B drafting
//     for a 31B, or a drafter trained by facet), run greedily with its own KV cache.
//   - AssistantDrafter: Gemma 4's own multi-token-prediction drafters (the "-assistant"
//     checkpoints, model/assistant.h), which read the main model's last hidden state and
//     its KV cache instead of keeping their own.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/assistant.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "util/thread_pool.h"

namespace facet {

class Generator;

// What a drafter may look at when it guesses.
struct DraftInput {
  // The whole context so far (prompt and answer); its last token is not yet run by the
  // main model, every earlier one is in `cache`.
  const std::vector<int32_t>& sequence;
  const Model& model;                 // the main model ...
  const KvCache& cache;               // ... its cache (sequence minus its last token) ...
  std::span<const float> hidden;      // ... and its final normed hidden state after the
                                      // cache's last position ([hidden size]; may be empty)
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Up to `max` tokens that likely come after `sequence` (the whole context so far: prompt
  // and answer, its last token not yet run by the main model). May return fewer or none.
  // Drafts are guesses: a drafter may return any ids below the main model's vocabulary.
  virtual std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) = 0;
  // The same with the main model's state at hand; what the Generator calls. By default
  // the sequence alone decides.
  virtual std::vector<int32_t> propose_for(const DraftInput& input, int max) { return propose(input.sequence, max); }
  virtual std::string name() const = 0;  // for logs and `facet bench`
};

class PromptLookupDrafter : public Drafter {
 public:
  // Matches the last n tokens for n from `max_ngram` down to `min_ngram` (the longest
  // match wins; among equal ones the most recent).
  explicit PromptLookupDrafter(int min_ngram = 2, int max_ngram = 4);
  std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) override;
  std::string name() const override { return "prompt lookup"; }

 private:
  int min_ngram_, max_ngram_;
};

class ModelDrafter : public Drafter {
 public:
  // `draft` must share the main model's tokenizer: a different vocabulary size is an
  // Error naming both. `context_size` as the main generator's; `max_draft` bounds how far
  // back its cache must rewind after a rejection. The model must outlive the drafter.
  ModelDrafter(const Model& draft, const ModelConfig& main, int64_t context_size, int max_draft, int threads);
  ~ModelDrafter() override;
  std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) override;
  std::string name() const override { return "draft model"; }

 private:
  std::unique_ptr<Generator> generator_;  // the drafter's cache; reuses the shared prefix each step
  int64_t vocab_;
};

// The drafter that sits beside a main model, or "": for DIR/NAME.gguf the file
// DIR/NAME-assistant.gguf; for an HF folder DIR, DIR/assistant or DIR-assistant (each only
// if it is a Gemma 4 assistant model).
std::string default_drafter_path(const std::string& main_model_path);

class AssistantDrafter : public Drafter {
 public:
  // check_assistant_fits(assistant, main) must pass (else Error). The assistant must
  // outlive the drafter.
  AssistantDrafter(const AssistantModel& assistant, const ModelConfig& main, int threads);
  // Needs the main model's state: without it there is nothing to draft from.
  std::vector<int32_t> propose(const std::vector<int32_t>&, int) override { return {}; }
  std::vector<int32_t> propose_for(const DraftInput& input, int max) override;
  std::string name() const override { return "Gemma 4 assistant (MTP)"; }

 private:
  const AssistantModel& assistant_;
  ThreadPool pool_;
};

}  // namespace facet
